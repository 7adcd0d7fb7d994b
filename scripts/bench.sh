#!/usr/bin/env bash
# Benchmarks `health` on the running demo stack (scripts/demo-up.sh) in one
# run: each check alone, health, health as a freshly started bot, and the
# runbook's Daily Health Check typed as shell commands. Prints the medians
# of COUNT runs (default 5) and the two ratios the README quotes:
#   health / slowest check alone   (goal: at most 1.2)
#   runbook shell steps / health   (goal: at least 3)
#
# scripts/bench.sh errors: `errors --since 24h` over about 200 MB of
# container logs against `docker logs | grep -ci error` (see BenchmarkErrors).
#
# scripts/bench.sh slack: the Slack transport instead — ack latency p50/p99
# at 1, 50 and 200 commands a second for 10 s each (one in twenty a health
# on the demo stack), beside a bare slack-go client that only acks, and
# the binary's memory at rest (SHIFTWISE_BENCH_SECONDS shortens the runs;
# SHIFTWISE_BENCH_NO_HEALTH=1 leaves health out of the mix).
#
# scripts/bench.sh runbook: `runbook api-500` against each of its diagnosis
# steps alone, medians of COUNT runs and the ratio runbook / slowest step.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "runbook" ]; then
  raw=$(mktemp)
  trap 'rm -f "$raw"' EXIT
  go test -run '^$' -bench 'BenchmarkRunbook' -benchtime "${BENCHTIME:-10x}" -count "${COUNT:-5}" ./cmd/shiftwise-bot | tee "$raw" | grep -E '^Benchmark' >&2 || true
  grep -q '^BenchmarkRunbook/step=runbook' "$raw" || { echo "bench: no results (is the demo stack up? scripts/demo-up.sh)" >&2; exit 1; }
  awk '
    /^BenchmarkRunbook\// { name = $1; sub(/^BenchmarkRunbook\/step=/, "", name); sub(/-[0-9]+$/, "", name); v[name] = v[name] " " $3 }
    function median(list,   a, n, i, j, t) {
      n = split(list, a, " ")
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    END {
      printf "%-28s %12s\n", "median of runs", "ms/op"
      for (k in v) { m[k] = median(v[k]) / 1e6; printf "%-28s %12.1f\n", k, m[k]; if (k != "runbook" && m[k] > slowest) { slowest = m[k]; slowname = k } }
      printf "\nslowest step alone: %s, %.1f ms\nrunbook api-500 / slowest step alone: %.2f (goal <= 1.2)\n", slowname, slowest, m["runbook"] / slowest
    }' "$raw"
  exit 0
fi
if [ "${1:-}" = "errors" ]; then
  # `errors --since 24h` over SHIFTWISE_BENCH_LOG_MB (default 200) MB of logs
  # written by four throwaway containers (removed afterwards), against
  # `docker logs --since 24h <c> 2>&1 | grep -ci error` on the same ones;
  # medians of RUNS (default 3) runs each.
  go test -run '^$' -bench 'BenchmarkErrors' -benchtime "${RUNS:-3}x" -timeout 60m ./commands | tee /dev/stderr |
    awk '/^BenchmarkErrors\// { name = $1; sub(/^BenchmarkErrors\//, "", name); sub(/-[0-9]+$/, "", name)
           for (i = 2; i < NF; i++) if ($(i + 1) == "ms-median") m[name] = $i; else if ($(i + 1) == "cpu-ms-median") c[name] = $i
             else if ($(i + 1) == "MB") mb = $i; else if ($(i + 1) == "error-lines") n = $i }
         END { if (!("errors" in m)) { print "bench: no results" > "/dev/stderr"; exit 1 }
               printf "\n%.1f MB of logs, %d error lines: errors %.0f ms, grep one by one %.0f ms, grep all at once %.0f ms\n", mb, n, m["errors"], m["grep-one-by-one"], m["grep-all-at-once"]
               printf "CPU outside the daemon: errors %.0f ms (the bot), grep one by one %.0f ms, all at once %.0f ms (docker CLI + grep)\n", c["errors"], c["grep-one-by-one"], c["grep-all-at-once"]
               printf "errors / grep one by one: %.2f   errors / grep all at once: %.2f   (goal <= 1.5)\n", m["errors"] / m["grep-one-by-one"], m["errors"] / m["grep-all-at-once"] }'
  exit "${PIPESTATUS[0]}"
fi
if [ "${1:-}" = "slack" ]; then
  raw=$(mktemp)
  trap 'rm -f "$raw"' EXIT
  set +e
  go test -run '^$' -bench 'BenchmarkSlack(Ack|RSSAtRest)$' -benchtime 1x ./cmd/shiftwise-bot >"$raw" 2>&1
  rc=$?
  set -e
  grep -E '^Benchmark|FAIL|^ok' "$raw"
  [ "$rc" = 0 ] || { tail -40 "$raw" >&2; exit "$rc"; }
  awk '
    /^BenchmarkSlackAck\// {
      split($1, n, "/"); who = n[2]; rate = n[3]; sub(/-[0-9]+$/, "", rate); sub(/rate=/, "", rate)
      for (i = 3; i < NF; i += 2) v[who, rate, $(i + 1)] = $i
      rates[rate] = 1
    }
    END {
      printf "\n%-6s %9s %9s %9s %9s %9s %12s\n", "rate/s", "bot p50", "bot p99", "bare p50", "bare p99", "p99 ratio", "unacked b/b"
      for (r = 1; r <= 1000; r++) if (r in rates)
        printf "%-6s %9.2f %9.2f %9.2f %9.2f %9.2f %8d/%d\n", r, v["bot", r, "p50-ms"], v["bot", r, "p99-ms"], v["bare", r, "p50-ms"], v["bare", r, "p99-ms"],
          v["bot", r, "p99-ms"] / v["bare", r, "p99-ms"], v["bot", r, "unacked"], v["bare", r, "unacked"]
      print "goal: bot p99 <= 2x bare p99, nothing unacked"
    }' "$raw"
  exit 0
fi
count=${COUNT:-5}
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
go test -run '^$' -bench 'BenchmarkHealth' -benchtime "${BENCHTIME:-20x}" -count "$count" ./commands | tee "$raw" | grep -E '^Benchmark' >&2 || true
grep -q '^BenchmarkHealth/health-' "$raw" || { echo "bench: no results (is the demo stack up? scripts/demo-up.sh)" >&2; exit 1; }
awk '
  /^BenchmarkHealth\// {
    name = $1; sub(/^BenchmarkHealth\//, "", name); sub(/-[0-9]+$/, "", name)
    v[name] = v[name] " " $3
  }
  function median(list,   a, n, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    printf "%-28s %12s\n", "median of runs", "ms/op"
    slowest = 0
    for (k in v) {
      m[k] = median(v[k]) / 1e6
      if (k ~ /^check=/ && m[k] > slowest) { slowest = m[k]; slowname = k }
    }
    n = 0; for (k in m) keys[++n] = k
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (keys[j] < keys[i]) { t = keys[i]; keys[i] = keys[j]; keys[j] = t }
    for (i = 1; i <= n; i++) printf "%-28s %12.1f\n", keys[i], m[keys[i]]
    printf "\nslowest check alone: %s, %.1f ms\n", slowname, slowest
    printf "health / slowest check alone: %.2f (goal <= 1.2)\n", m["health"] / slowest
    printf "runbook shell steps / health: %.1fx (goal >= 3)\n", m["runbook-shell"] / m["health"]
    printf "runbook shell steps / health on a fresh bot: %.1fx\n", m["runbook-shell"] / m["health-first-run"]
  }' "$raw"
