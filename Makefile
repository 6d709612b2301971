# rlhf — build, test and demo targets. A newcomer needs only `make demo` and `make test`.
GO       ?= go
VERSION  ?= $(shell git describe --tags --dirty 2>/dev/null || echo v0.1.0-dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -X github.com/rlhf-project/rlhf/cmd.Version=$(VERSION) -X github.com/rlhf-project/rlhf/cmd.Commit=$(COMMIT)
BIN      := bin/rlhf
# Packages whose tests are cheap enough to run under the race detector; the
# tensor-heavy ones (model, train, and cmd, whose end-to-end demo test trains
# tiny models) run without it (the detector slows GoMLX's pure-Go kernels ~10x).
HEAVY    := /model|/train|/cmd$$
RACE_PKGS  = $(shell $(GO) list ./... | grep -Ev '$(HEAVY)')
HEAVY_PKGS = $(shell $(GO) list ./... | grep -E '$(HEAVY)')
DEMO_OUT ?= demo-out

.PHONY: build test lint bench demo clean

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

demo: build
	$(BIN) demo --out $(DEMO_OUT)

clean:
	rm -rf bin $(DEMO_OUT)
