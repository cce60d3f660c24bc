#!/usr/bin/env bash
# Regenerates every committed generated file (msgp header code, avo assembly,
# CUDA PTX, the shipped test models) in a scratch copy of the tree and fails if
# anything differs from what is committed. The working tree is not touched.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# Tracked and untracked-but-not-ignored files: what a commit would hold.
git ls-files -z -co --exclude-standard | xargs -0 cp --parents -t "$scratch" 2>/dev/null || true
touch "$scratch/.generate-start"
cd "$scratch"
echo "check-generated: go generate ./... in a scratch copy"
go generate ./...
# go generate reads only the files of the target architecture: the arm64
# assembly generator sits in an _arm64.go file.
(cd simd && go run ./internal/arm64gen -out tdot_arm64.s)
status=0
while IFS= read -r -d '' f; do
	if [ ! -f "$top/$f" ]; then
		echo "check-generated: $f is generated but not in the tree" >&2
		status=1
	elif ! cmp -s "$f" "$top/$f"; then
		echo "check-generated: $f differs from what go generate writes:" >&2
		diff -u "$top/$f" "$f" | head -n 20 >&2 || true
		status=1
	fi
done < <(find . -type f ! -path './.git/*' ! -name .generate-start -newer "$scratch/.generate-start" -print0)
if [ $status -eq 0 ]; then
	echo "check-generated: every generated file matches"
fi
exit $status
