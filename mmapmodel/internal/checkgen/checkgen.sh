#!/bin/sh
# checkgen.sh regenerates mmapmodel's generated files into a temporary
# directory and fails if they differ from the committed ones:
#   - header_gen.go (tinylib/msgp, pinned by the tool line in go.mod)
#   - testdata/mlp-tiny.bwm, testdata/mlp-tiny-release/ and the fuzz seed
#     corpus mmapmodel/testdata/fuzz/ (internal/gentestdata)
# Run from anywhere inside the module: sh mmapmodel/internal/checkgen/checkgen.sh
set -eu
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go tool msgp -file mmapmodel/header.go -o "$tmp/header_gen.go" -tests=false -io=false -unexported >/dev/null
go run ./mmapmodel/internal/gentestdata -out "$tmp/testdata" -corpus "$tmp/fuzz"

status=0
diff -u mmapmodel/header_gen.go "$tmp/header_gen.go" || { echo "checkgen: mmapmodel/header_gen.go is stale: run go generate ./mmapmodel" >&2; status=1; }
diff -r testdata/mlp-tiny.bwm "$tmp/testdata/mlp-tiny.bwm" >/dev/null || { echo "checkgen: testdata/mlp-tiny.bwm differs" >&2; status=1; }
diff -r testdata/mlp-tiny-release "$tmp/testdata/mlp-tiny-release" || { echo "checkgen: testdata/mlp-tiny-release differs" >&2; status=1; }
# Only the seed-* files are generated; other corpus files are regression
# inputs kept by hand.
for target in FuzzOpen FuzzManifest; do
	got=$(cd "$tmp/fuzz/$target" && ls seed-*)
	have=$(cd "mmapmodel/testdata/fuzz/$target" && ls seed-*)
	[ "$got" = "$have" ] || { echo "checkgen: fuzz seed names differ in $target" >&2; status=1; }
	for f in $got; do
		cmp -s "$tmp/fuzz/$target/$f" "mmapmodel/testdata/fuzz/$target/$f" || { echo "checkgen: fuzz seed $target/$f differs" >&2; status=1; }
	done
done
[ "$status" = 0 ] && echo "checkgen: generated files are current"
exit "$status"
