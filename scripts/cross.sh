#!/usr/bin/env bash
# Builds every package (and compiles every test binary) for each supported
# GOOS/GOARCH, with and without the purego tag, so that every fallback path
# compiles. linux/arm is the 32-bit board target; darwin/arm64 is where
# programs that embed the SDK are often developed (CPU backend only).
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(linux/amd64 linux/arm64 linux/arm darwin/arm64)
fail=0
for t in "${targets[@]}"; do
	os=${t%/*} arch=${t#*/}
	for tags in "" purego; do
		label="$t${tags:+ ($tags)}"
		if GOOS=$os GOARCH=$arch go build ${tags:+-tags $tags} ./... &&
			GOOS=$os GOARCH=$arch go vet ${tags:+-tags $tags} ./... ; then
			echo "cross: ok   $label"
		else
			echo "cross: FAIL $label"
			fail=1
		fi
	done
done
# The CUDA backend must also build without cgo (it then reports itself unavailable).
for arch in amd64 arm64; do
	if CGO_ENABLED=0 GOOS=linux GOARCH=$arch go build ./...; then
		echo "cross: ok   linux/$arch (CGO_ENABLED=0)"
	else
		echo "cross: FAIL linux/$arch (CGO_ENABLED=0)"
		fail=1
	fi
done
exit $fail
