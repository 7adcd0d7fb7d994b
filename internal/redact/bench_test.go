package redact

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// cpuMBps reports the MB/s of the process's CPU time (user + system) over
// the loop, beside the wall-clock MB/s: on a machine shared by many
// processes the wall clock counts the waiting too.
func cpuMBps(b *testing.B, size int, loop func()) {
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	n := 0
	for b.Loop() {
		loop()
		n++
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := float64(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) / 1e9
	if cpu > 0 {
		b.ReportMetric(float64(size)*float64(n)/1e6/cpu, "MB/s-cpu")
	}
}

// benchLog is about 1 MB of access and error lines as the demo services
// write them, one line in a hundred carrying a setting, a URL password or
// a header with a secret.
func benchLog() string {
	var b strings.Builder
	for i := 0; b.Len() < 1<<20; i++ {
		ts := fmt.Sprintf("2026-12-01T12:%02d:%02d.%03dZ", i/60%60, i%60, i%1000)
		switch {
		case i%100 == 42:
			switch i / 100 % 3 {
			case 0:
				fmt.Fprintf(&b, "%s WARN connect postgres://app:Pw%06d@db:5432/shiftwise retrying\n", ts, i)
			case 1:
				fmt.Fprintf(&b, "%s DEBUG request headers Authorization: Bearer tok%08xABCDEF\n", ts, i*7919)
			default:
				fmt.Fprintf(&b, "%s INFO login user=u%d password=pw%07d ok\n", ts, i%5000, i)
			}
		case i%20 == 7:
			fmt.Fprintf(&b, "%s ERROR db timeout after %dms for user %d\n", ts, i*7%9000, i%5000)
		default:
			fmt.Fprintf(&b, "%s INFO GET /api/shifts/%d 200 %dms user=%d req=%08x%08x\n", ts, i*31%90000, i%300, i%5000, i*7919, i*104729)
		}
	}
	return b.String()
}

// BenchmarkReadLog reads the 1 MB log from a file line by line, as the
// bot reads a log stream: the yardstick for BenchmarkRedactLog.
func BenchmarkReadLog(b *testing.B) {
	text := benchLog()
	path := filepath.Join(b.TempDir(), "app.log")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(text)))
	cpuMBps(b, len(text), func() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		n := 0
		for sc.Scan() {
			n += len(sc.Text())
		}
		f.Close()
		if n == 0 {
			b.Fatal("nothing read")
		}
	})
}

// BenchmarkRedactLog redacts the 1 MB log at once (a reply, a snapshot)
// and line by line (logs, errors). Goal: at most twice BenchmarkReadLog's
// time, that is at least half its MB/s.
func BenchmarkRedactLog(b *testing.B) {
	text := benchLog()
	lines := strings.Split(text, "\n")
	r := New("literal-secret-1", "literal-secret-2")
	b.Run("whole", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		cpuMBps(b, len(text), func() { r.Redact(text) })
	})
	b.Run("lines", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		cpuMBps(b, len(text), func() {
			for _, l := range lines {
				r.Redact(l)
			}
		})
	})
}
