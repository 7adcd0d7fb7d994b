# ShiftWise ops bot. `make demo` opens the console on a local demo stack;
# `make test` installs what the tests need and runs every test.
SHELL := /bin/bash
BIN   := bin/shiftwise-bot

.PHONY: build demo demo-down test test-go check bench image fmt vet

build:
	CGO_ENABLED=0 go build -trimpath -o $(BIN) ./cmd/shiftwise-bot

# Brings the demo stack up (or reuses it) and opens the console on it.
demo: build
	@scripts/demo-up.sh >&2
	@set -a; source deploy/demo/demo.env; set +a; exec $(BIN) -console

demo-down:
	scripts/demo-down.sh

# Everything: installs/starts PostgreSQL, Redis and the demo stack, then
# gofmt, go vet, go test -race ./..., and the user image check.
test:
	scripts/test.sh

# Only the Go tests, for when the services are already up.
test-go:
	go test -race -count=1 ./...

check: fmt vet

fmt:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt needed"; exit 1; }

vet:
	go vet ./...

# Benchmarks against the running demo stack (numbers in the README).
bench:
	scripts/bench.sh
	scripts/bench.sh slack

image:
	scripts/build-image.sh --check
