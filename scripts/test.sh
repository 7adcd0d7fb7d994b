#!/usr/bin/env bash
# The README's test command (`make test`): installs and starts what the
# tests need when it is missing — the host's PostgreSQL 15 and Redis 7 from
# Debian's packages, the demo stack's images built locally, the demo stack
# itself — then runs gofmt, go vet, every Go test with the race detector,
# and the user image check. Under CI=true a missing service fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { printf '\n==> %s (%ss)\n' "$*" "$(( $(date +%s) - start ))"; }

step "services: host PostgreSQL and Redis, demo images and stack"
scripts/test-deps.sh

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt needed:"; echo "$unformatted"; exit 1; fi

step "go vet"
go vet ./...

step "go test -race"
# -p 2: two cores. Each integration test cleans up its own containers.
go test -race -count=1 -p 2 -timeout 45m ./...

step "fuzz targets, ${FUZZTIME:-20s} each, from their committed corpora"
for dir in $(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do
  for target in $(grep -h '^func Fuzz' "$dir"/*_test.go | sed 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "${FUZZTIME:-20s}" -parallel 2 "$dir"
  done
done

step "user image builds without a registry and runs"
scripts/build-image.sh --check

step "all passed"
