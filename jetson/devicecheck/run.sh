#!/bin/sh
# Runs the jetson device check on a machine with an NVIDIA GPU.
#
#   jetson/devicecheck/run.sh [devicecheck flags]      check this machine's GPU
#   jetson/devicecheck/run.sh -build [FILE]            only build the binary (cgo), to carry
#                                                      to a machine without Go
#
# The binary is $DEVICECHECK_BIN if set, else bin/devicecheck-$(uname -m) next to this
# script, else it is built with the local Go toolchain. When $OUT is set (a results
# directory), a JSON report is written to $OUT/devicecheck.json.
#
# Exit status: 0 every check passed; 1 a check failed; 2 usage or no binary;
# 3 no usable GPU here; 124 the 5-minute limit was hit.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${DEVICECHECK_BIN:-$here/bin/devicecheck-$(uname -m)}

if [ "${1:-}" = "-build" ]; then
	out=${2:-$bin}
	mkdir -p "$(dirname "$out")"
	(cd "$here" && CGO_ENABLED=1 go build -o "$out" .)
	echo "run.sh: built $out"
	exit 0
fi

if [ ! -x "$bin" ]; then
	if ! command -v go >/dev/null 2>&1; then
		echo "run.sh: no binary at $bin and no Go toolchain here; build one elsewhere with: jetson/devicecheck/run.sh -build" >&2
		exit 2
	fi
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd "$here" && CGO_ENABLED=1 go build -o "$tmp/devicecheck" .) || exit 2
	bin=$tmp/devicecheck
fi

if [ -n "${OUT:-}" ]; then
	set -- -json "$OUT/devicecheck.json" "$@"
fi
uname -r
status=0
timeout 300 "$bin" "$@" || status=$?
exit $status
