#!/bin/sh
# Regenerates the amd64 kernels into a temporary directory and fails if the
# committed files differ (run from anywhere; used by CI and make generate-check).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$here"
go test ./...
go run . -out "$tmp/tdot_amd64.s" -stubs "$tmp/tdot_stub_amd64.go" -pkg simd
# The first line records the generator's command line (with the output
# paths), so compare from the second line on.
status=0
for f in tdot_amd64.s tdot_stub_amd64.go; do
	tail -n +2 "$tmp/$f" >"$tmp/$f.body"
	if ! tail -n +2 "$here/../$f" | diff -u - "$tmp/$f.body" >&2; then
		echo "simd/$f is stale: run 'go generate ./simd' and commit the result" >&2
		status=1
	fi
done
[ $status -eq 0 ] && echo "generated simd kernels are up to date"
exit $status
