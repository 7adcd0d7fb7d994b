package commands

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// benchLogGenerator prints lines of about 100 bytes, one in twenty an error
// line from eight templates with varying numbers, IDs, hex and addresses,
// as a busy ShiftWise service would; LINES and SEED come from the
// environment. It runs with mawk in the data image and exits.
const benchLogGenerator = `awk -v n="$LINES" -v seed="$SEED" 'BEGIN {
  srand(seed)
  for (i = 0; i < n; i++) {
    ts = sprintf("2026-12-01T%02d:%02d:%02d.%03dZ", (i / 3600000) % 24, (i / 60000) % 60, (i / 1000) % 60, i % 1000)
    if (i % 20 != 7) {
      printf "%s INFO GET /api/shifts/%d 200 %dms user=%d req=%08x%08x\n", ts, int(rand() * 90000), int(rand() * 300), int(rand() * 5000), int(rand() * 2^31), int(rand() * 2^31)
      continue
    }
    k = int(rand() * 8)
    if (k == 0) printf "%s ERROR db timeout after %dms for user %d\n", ts, int(rand() * 9000), int(rand() * 5000)
    else if (k == 1) printf "%s ERROR request %08x-%04x-4%03x-a%03x-%06x%06x failed: connection reset by peer\n", ts, int(rand() * 2^31), int(rand() * 65535), int(rand() * 4095), int(rand() * 4095), int(rand() * 2^23), int(rand() * 2^23)
    else if (k == 2) printf "%s error: connection to 10.0.%d.%d:5432 refused\n", ts, int(rand() * 255), int(rand() * 255)
    else if (k == 3) printf "%s Error rendering template shift_%d.html: nil pointer at 0x%x\n", ts, int(rand() * 400), int(rand() * 2^31)
    else if (k == 4) printf "%s [error] upstream timed out (110: Connection timed out) while reading response header, client: 172.18.0.%d\n", ts, int(rand() * 255)
    else if (k == 5) printf "%s ERROR: duplicate key value violates unique constraint \"assignments_pkey\" (id=%d)\n", ts, int(rand() * 900000)
    else if (k == 6) printf "%s WARN retrying job %d after error code %d\n", ts, int(rand() * 100000), 500 + int(rand() * 4)
    else printf "%s level=error msg=\"cache miss storm\" keys=%d\n", ts, int(rand() * 100000)
  }
}'`

// benchLogs starts a throwaway project of four generator containers that
// write SHIFTWISE_BENCH_LOG_MB (default 200) MB of log text between them
// and exit; it is removed when the benchmark ends.
func benchLogs(b *testing.B) (*ops, int64) {
	b.Helper()
	mb := 200
	if v, err := strconv.Atoi(os.Getenv("SHIFTWISE_BENCH_LOG_MB")); err == nil && v > 0 && v <= 1000 {
		mb = v
	}
	const containers = 4
	lines := mb * 1_000_000 / containers / 92 // the generator's lines average 92 bytes
	data := testenv.Get("SHIFTWISE_TEST_DATA_IMAGE")
	var services []dockertest.Service
	for i, name := range []string{"api", "frontend", "nginx", "worker"}[:containers] {
		services = append(services, dockertest.Service{
			Name: name, Image: data, NoWait: true,
			Cmd:     []string{"bash", "-c", benchLogGenerator},
			Env:     []string{fmt.Sprintf("LINES=%d", lines), fmt.Sprintf("SEED=%d", i+1)},
			LogOpts: map[string]string{"max-size": "1g", "max-file": "1"},
		})
	}
	p := dockertest.StartProject(b, services...)
	for _, c := range p.Containers {
		dockertest.WaitState(b, c.ID, "exited", 10*time.Minute)
	}
	var size int64
	for _, c := range p.Containers {
		out := shell(b, "docker logs "+c.ID+" 2>&1 | wc -c")
		n, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
		if err != nil {
			b.Fatalf("log size of %s: %q", c.Name, out)
		}
		size += n
	}
	o := opsOn(b, p, containersPolicy)
	o.s.Redact = redact.New().Redact // as main wires it: every error line is redacted before grouping
	return o, size
}

func shell(b testing.TB, script string) string {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -o pipefail; "+script)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+dockertest.Host(b))
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("%s: %v", script, err)
	}
	return string(out)
}

// BenchmarkErrors compares `errors --since 24h` over about 200 MB of
// container logs with the runbook's shell form, `docker logs --since 24h
// <c> 2>&1 | grep -ci error`, on the same containers: one after another as
// typed, and all at once. Each reports the median of its runs (ms-median).
// scripts/bench.sh errors runs it.
func BenchmarkErrors(b *testing.B) {
	o, size := benchLogs(b)
	b.Logf("%d containers, %.1f MB of log text", len(o.project.Containers), float64(size)/1e6)
	var ids []string
	for _, c := range o.project.Containers {
		ids = append(ids, c.ID)
	}
	want := -1
	// measure reports the median wall time and the median CPU time spent
	// outside the daemon: this process's own (errors) or its children's
	// (the docker CLI and grep).
	measure := func(b *testing.B, who int, run func() int) {
		var times, cpu []float64
		for b.Loop() {
			start, cpu0 := time.Now(), cpuTime(b, who)
			n := run()
			times = append(times, float64(time.Since(start).Microseconds())/1000)
			cpu = append(cpu, cpuTime(b, who)-cpu0)
			if want >= 0 && n != want {
				b.Fatalf("%d error lines, the other way counted %d", n, want)
			}
			want = n
		}
		slices.Sort(times)
		slices.Sort(cpu)
		b.ReportMetric(times[len(times)/2], "ms-median")
		b.ReportMetric(cpu[len(cpu)/2], "cpu-ms-median")
		b.ReportMetric(float64(size)/1e6, "MB")
		b.ReportMetric(float64(want), "error-lines")
	}
	b.Run("errors", func(b *testing.B) {
		measure(b, syscall.RUSAGE_SELF, func() int {
			r, _ := o.run("console:l1", "errors --since 24h")
			var n int
			if _, err := fmt.Sscanf(r.Message.Summary, "%d error lines", &n); err != nil || len(r.Message.Code) != 1 {
				b.Fatalf("errors: %s", render(r.Message))
			}
			return n
		})
	})
	b.Run("grep-one-by-one", func(b *testing.B) {
		script := ""
		for _, id := range ids {
			script += "docker logs --since 24h " + id + " 2>&1 | grep -ci error; "
		}
		measure(b, syscall.RUSAGE_CHILDREN, func() int { return sumLines(b, shell(b, script)) })
	})
	b.Run("grep-all-at-once", func(b *testing.B) {
		script := ""
		for _, id := range ids {
			script += "(docker logs --since 24h " + id + " 2>&1 | grep -ci error) & "
		}
		measure(b, syscall.RUSAGE_CHILDREN, func() int { return sumLines(b, shell(b, script+"wait")) })
	})
}

func sumLines(b testing.TB, out string) int {
	total := 0
	for _, f := range strings.Fields(out) {
		n, err := strconv.Atoi(f)
		if err != nil {
			b.Fatalf("grep -c printed %q", out)
		}
		total += n
	}
	return total
}

// cpuTime is the user and system CPU time, in ms, of this process or of
// its waited-for children.
func cpuTime(b testing.TB, who int) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		b.Fatal(err)
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
}
