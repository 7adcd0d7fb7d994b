#!/usr/bin/env bash
# Benchmarks `backup create` and `backup verify` on a throwaway PostgreSQL
# container seeded with the demo data (and with 100x its assignments),
# beside the runbook's docker CLI way. Needs the Docker Engine, the docker
# CLI and the demo images (scripts/demo-images.sh). BENCHTIME (default 5x).
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench 'BenchmarkBackup$' -benchtime "${BENCHTIME:-5x}" ./commands | grep -E '^Benchmark|FAIL|^ok'
