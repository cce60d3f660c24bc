# BAREWire Edge. `make help` lists the targets; `make test` is what CI runs.
SHELL := /bin/bash
GO ?= go
BIN := bin
AGENT := $(BIN)/edge-agent
# Bounded fuzzing in `make test`: each fuzz target runs this many inputs.
FUZZ_COUNT ?= 300x
# Longer fuzzing for `make fuzz`.
FUZZ_TIME ?= 30s

.DEFAULT_GOAL := help
.PHONY: help build test unit purego arm64 fuzz-smoke fuzz generate check-generated cross demo bench models clean

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build edge-agent into bin/
	@mkdir -p $(BIN)
	$(GO) build -o $(AGENT) ./cmd/edge-agent

test: ## everything CI runs: gofmt, vet, unit tests, purego, arm64 under qemu, bounded fuzzing, generated-code checks, cross builds
	@unformatted=$$("$$($(GO) env GOROOT)/bin/gofmt" -l .); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory purego
	$(MAKE) --no-print-directory arm64
	$(MAKE) --no-print-directory fuzz-smoke
	$(MAKE) --no-print-directory check-generated
	$(MAKE) --no-print-directory cross
	@echo "make test: all steps passed"

unit: ## go test ./... with the SIMD tiers this CPU has
	$(GO) test -count=1 ./...

purego: ## go test ./... with the generic (pure Go) kernels forced
	$(GO) test -count=1 -tags purego ./...

arm64: ## the arm64 tiers and the SDK on them under qemu-aarch64-static (NEON and NEON+dotprod)
	scripts/test-arm64.sh

fuzz-smoke: ## every fuzz target for $(FUZZ_COUNT) inputs (seed corpus included)
	FUZZ_TIME=$(FUZZ_COUNT) scripts/fuzz.sh

fuzz: ## every fuzz target for $(FUZZ_TIME) each
	FUZZ_TIME=$(FUZZ_TIME) scripts/fuzz.sh

generate: ## regenerate committed generated code (msgp, avo, arm64 asm, PTX) and the shipped test model
	$(GO) generate ./...
	cd simd && $(GO) run ./internal/arm64gen -out tdot_arm64.s

check-generated: ## regenerate into a scratch copy and fail on any difference from what is committed
	scripts/check-generated.sh

cross: ## build every package for linux/amd64, linux/arm64, linux/arm, with and without purego
	scripts/cross.sh

demo: build ## the main job on the model shipped in testdata/
	scripts/demo.sh

bench: build ## kernel benchmarks (JSON lines) on this machine
	$(AGENT) bench kernels --json

models: ## retrain the models shipped in testdata/ from scratch (about 40 minutes on 2 cores)
	scripts/train-models.sh

clean: ## remove build outputs
	rm -rf $(BIN)
