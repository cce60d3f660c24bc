#!/usr/bin/env bash
# make demo: the main job on the models shipped in testdata/, with the
# edge-agent binary that `make build` just wrote to bin/.
set -euo pipefail
cd "$(dirname "$0")/.."
agent=bin/edge-agent
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

step() { printf '\n== %s\n' "$*"; }

if [ -f testdata/charlm.bwm ]; then
	step "verify the shipped character-level MatMul-free LM (every checksum and padding byte)"
	$agent verify testdata/charlm.bwm | sed -n '$p'
	step "generate text from it, streaming (seed 1)"
	$agent run --model testdata/charlm.bwm --prompt "The Rays of Light" -n 300 --temperature 0.8 --top-k 40 --seed 1
else
	step "no trained language model in testdata/ yet: generating from a tiny synthetic BitNet (random weights, so the text is noise)"
	go run ./examples/generate -n 32
fi

step "verify the shipped ternary MNIST classifier"
$agent verify testdata/mnist-mlp.bwm | sed -n '$p'

step "classify three MNIST test digits with edge-agent classify (raw pixels 0..255 in, scores out)"
go run ./examples/mnist -n 0 -dump "$tmp/digits.json" -dump-n 3
$agent classify --model testdata/mnist-mlp.bwm --input "$tmp/digits.json" | cut -c1-120

step "classify the whole MNIST test set through the SDK"
go run ./examples/mnist -model testdata/mnist-mlp.bwm -n 10000

step "inspect the release-directory form of the tiny test model"
$agent inspect testdata/mlp-tiny-release | sed -n '1,12p'
