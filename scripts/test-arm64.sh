#!/usr/bin/env bash
# Tests the simd package's arm64 tiers, and the SDK on them, on any host
# through qemu-user.
#
# The test binary is cross-compiled once and run twice: QEMU_CPU=cortex-a72
# (Armv8.0 NEON, no dotprod: qemu raises SIGILL on SDOT, so the NEON tier is
# proven free of dotprod instructions) and QEMU_CPU=neoverse-n1 (NEON and
# dotprod). qemu reports the emulated CPU's features in HWCAP, which is what
# the tier selection reads, and BAREWIRE_EXPECT_TIERS makes
# TestArm64ExpectTiers fail unless exactly the expected tiers are usable. A
# third binary, built with -tags purego, checks the generic-only build.
#
# Usage: scripts/test-arm64.sh [extra go test flags, e.g. -test.run Arm64]
set -euo pipefail

cd "$(dirname "$0")/.."

QEMU=${QEMU:-qemu-aarch64-static}
if ! command -v "$QEMU" >/dev/null 2>&1; then
	echo "test-arm64.sh: $QEMU not found; install qemu-user-static (apt-get install qemu-user-static)" >&2
	exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== build simd tests for linux/arm64 (asm, purego)"
GOOS=linux GOARCH=arm64 go test -c -o "$tmp/simd.test" ./simd
GOOS=linux GOARCH=arm64 go test -c -tags purego -o "$tmp/simd-purego.test" ./simd

# run NAME QEMU_CPU EXPECTED_TIERS BINARY: the whole suite, then the tier
# check verbosely so the log shows which tiers ran.
run() {
	local name=$1 cpu=$2 tiers=$3 bin=$4
	shift 4
	echo "== $name: QEMU_CPU=$cpu, expecting tiers $tiers"
	local start=$SECONDS
	(cd simd && QEMU_CPU=$cpu BAREWIRE_EXPECT_TIERS=$tiers BAREWIRE_SIMD_DISABLE= \
		"$QEMU" "$bin" -test.count=1 "$@")
	(cd simd && QEMU_CPU=$cpu BAREWIRE_EXPECT_TIERS=$tiers BAREWIRE_SIMD_DISABLE= \
		"$QEMU" "$bin" -test.count=1 -test.run '^TestArm64ExpectTiers$' -test.v) |
		grep -E 'usable tiers|^(--- |ok|PASS|FAIL)'
	echo "== $name: $((SECONDS - start))s"
}

run neon cortex-a72 generic,neon "$tmp/simd.test" "$@"
run dotprod neoverse-n1 generic,neon,dotprod "$tmp/simd.test" "$@"
run purego neoverse-n1 generic "$tmp/simd-purego.test" "$@"
echo "== arm64 simd tests passed"

# The SDK on the emulated CPUs: the whole suite with NEON+dotprod (the
# language models against their float64 references, prefill against
# decode, ...), and on both CPUs the checks that every tier's logits are
# the generic tier's (which on arm64 holds for the attention models too,
# so it exercises the NEON float kernels end to end) and that the generic
# tier's logits hash to the values every other build gives (the NEON
# float helpers end to end).
echo "== build sdk tests for linux/arm64"
GOOS=linux GOARCH=arm64 go test -c -o "$tmp/sdk.test" ./sdk
start=$SECONDS
echo "== sdk: QEMU_CPU=neoverse-n1, whole suite"
(cd sdk && QEMU_CPU=neoverse-n1 BAREWIRE_SIMD_DISABLE= "$QEMU" "$tmp/sdk.test" -test.count=1)
for cpu in cortex-a72 neoverse-n1; do
	echo "== sdk: QEMU_CPU=$cpu, tiers against generic, generic against every build"
	(cd sdk && QEMU_CPU=$cpu BAREWIRE_SIMD_DISABLE= "$QEMU" "$tmp/sdk.test" -test.count=1 -test.run '^(TestKernelTiersAgree|TestGenericLogitsGolden)$' -test.v) |
		grep -E 'pairs equal|^(--- |ok|PASS|FAIL)'
done
echo "== sdk: $((SECONDS - start))s"
echo "== arm64 sdk tests passed"
