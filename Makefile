# rlhf — build, test and demo targets. A newcomer needs only `make demo` and `make test`.
# GoMLX v0.28.14 needs Go 1.27: a machine's own (older) go command fetches the
# approved toolchain go1.27.3 from the module proxy when GOTOOLCHAIN names it
# (go.mod's toolchain line alone is ignored by older go commands).
# GOEXPERIMENT=simd turns on GoMLX's AVX-512/AVX2 kernels in the go backend.
# (make 4.3 does not pass exported variables to $(shell), hence GOENV there.)
export GOTOOLCHAIN := go1.27.3
export GOEXPERIMENT := simd
GOENV    := GOTOOLCHAIN=$(GOTOOLCHAIN) GOEXPERIMENT=$(GOEXPERIMENT)
GO       ?= go
VERSION  ?= $(shell git describe --tags --dirty 2>/dev/null || echo v0.1.0-dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -X github.com/rlhf-project/rlhf/version.Version=$(VERSION) -X github.com/rlhf-project/rlhf/version.Commit=$(COMMIT)
BIN      := bin/rlhf
# Packages whose tests are cheap enough to run under the race detector; the
# tensor-heavy ones (model, train, infer, bench, and cmd, whose end-to-end demo test
# trains tiny models) run without it (the detector slows GoMLX's pure-Go kernels
# ~10x, and its checkptr mode rejects the pointer arithmetic of compute's SIMD
# matmul kernels under GOEXPERIMENT=simd).
HEAVY    := /model|/train|/infer|/cmd$$|/bench$$
RACE_PKGS  = $(shell $(GOENV) $(GO) list ./... | grep -Ev '$(HEAVY)')
HEAVY_PKGS = $(shell $(GOENV) $(GO) list ./... | grep -E '$(HEAVY)')
DEMO_OUT ?= demo-out

.PHONY: build test lint bench bench-compare matmul-compare compare-algorithms demo clean gpu-bundle

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) .

test:
	$(GO) test -race -count=1 $(RACE_PKGS)
	@if [ -n "$(HEAVY_PKGS)" ]; then $(GO) test -count=1 -timeout 30m $(HEAVY_PKGS); fi

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# -p 1: one package at a time, so no benchmark shares the cores with
# another package's build or benchmark (rows/s and tokens/s are per machine).
bench:
	$(GO) test -p 1 -run '^$$' -bench . -benchtime 1x -benchmem ./...

# rlhf beside plain PyTorch (Debian's python3-torch + OpenBLAS, installed when
# missing) on this CPU, same shapes, one run, one table of tokens/s and ratios.
bench-compare: build
	RLHF=$(BIN) scripts/bench-compare.sh

# The matrix products of a training step, one by one, rlhf beside PyTorch
# (needs what bench-compare installs): how much of the gap is the kernels.
matmul-compare: build
	RLHF=$(BIN) scripts/matmul-compare.sh

# PPO, GRPO, RLOO, REINFORCE++ and DPO from the demo's SFT model, each
# evaluated against it on the held-out prompts: one table (wall time, peak
# RSS, win rate). Needs the demo's outputs (make demo).
compare-algorithms: build
	python3 scripts/compare_algorithms.py --rlhf $(BIN) --demo $(DEMO_OUT)

# gpu/: what the GPU check needs on a machine without Go (scripts/gpu-check.sh):
# a stripped binary and ../shared/gpu's gpu-env.sh and torch_baseline.py, if there.
gpu-bundle:
	mkdir -p gpu
	if [ -d ../shared/gpu ]; then cp ../shared/gpu/* gpu/; fi
	$(GO) build -ldflags "-s -w $(LDFLAGS)" -o gpu/rlhf .

demo: build
	$(BIN) demo --out $(DEMO_OUT)

clean:
	rm -rf bin $(DEMO_OUT)
