package docker

import (
	"testing"

	"github.com/moby/moby/api/types/container"
)

// The docker CLI's arithmetic (cli/command/container/stats_helpers.go),
// on numbers worked out by hand.
func TestStatsArithmetic(t *testing.T) {
	v := container.StatsResponse{
		PreCPUStats: container.CPUStats{CPUUsage: container.CPUUsage{TotalUsage: 1_000_000_000}, SystemUsage: 100_000_000_000},
		CPUStats:    container.CPUStats{CPUUsage: container.CPUUsage{TotalUsage: 1_500_000_000}, SystemUsage: 102_000_000_000, OnlineCPUs: 2},
		MemoryStats: container.MemoryStats{Usage: 300 << 20, Limit: 1 << 30, Stats: map[string]uint64{"total_inactive_file": 100 << 20}},
		Networks:    map[string]container.NetworkStats{"eth0": {RxBytes: 1000, TxBytes: 2000}, "eth1": {RxBytes: 500}},
		BlkioStats: container.BlkioStats{IoServiceBytesRecursive: []container.BlkioStatEntry{
			{Op: "Read", Value: 4096}, {Op: "Write", Value: 8192}, {Op: "read", Value: 4096}, {Op: "Total", Value: 1 << 20},
		}},
		PidsStats: container.PidsStats{Current: 7},
	}
	s := statsFrom(v)
	// 0.5 s of CPU over 2 s of the system's (both cores) = 25 % of it, times 2 CPUs.
	if s.CPUPercent != 50 {
		t.Errorf("CPU %v%%, want 50%%", s.CPUPercent)
	}
	if s.MemUsage != 200<<20 || s.MemLimit != 1<<30 || s.MemPercent < 19.53 || s.MemPercent > 19.54 {
		t.Errorf("memory %d / %d = %v%%", s.MemUsage, s.MemLimit, s.MemPercent)
	}
	if s.NetRx != 1500 || s.NetTx != 2000 || s.BlockRead != 8192 || s.BlockWrite != 8192 || s.PIDs != 7 {
		t.Errorf("I/O and PIDs: %+v", s)
	}
	// cgroup v2 names the page cache inactive_file.
	v.MemoryStats.Stats = map[string]uint64{"inactive_file": 50 << 20}
	if got := statsFrom(v).MemUsage; got != 250<<20 {
		t.Errorf("cgroup v2 memory %d", got)
	}
	// No previous sample (a container that just started): 0, not a division by zero.
	v.PreCPUStats = container.CPUStats{}
	v.CPUStats.SystemUsage = 0
	if got := statsFrom(v).CPUPercent; got != 0 {
		t.Errorf("CPU without a system delta: %v", got)
	}
	// Online CPUs missing: the per-CPU list's length.
	if got := cpuPercent(container.CPUStats{SystemUsage: 1000},
		container.CPUStats{CPUUsage: container.CPUUsage{TotalUsage: 100, PercpuUsage: []uint64{1, 2, 3, 4}}, SystemUsage: 2000}); got != 40 {
		t.Errorf("CPU from the per-CPU count: %v", got)
	}
}

// The docker CLI's columns: go-units BytesSize ("%.4g" binary) for
// memory, HumanSizeWithPrecision(3) for I/O.
func TestSizesAsTheDockerCLI(t *testing.T) {
	for n, want := range map[uint64]string{0: "0B", 1023: "1023B", 1024: "1KiB", 10_512_384: "10.03MiB", 25_275_260_928: "23.54GiB"} {
		if got := BinarySize(n); got != want {
			t.Errorf("BinarySize(%d) = %q, want %q", n, got, want)
		}
	}
	for n, want := range map[uint64]string{0: "0B", 999: "999B", 6620: "6.62kB", 6_130_000: "6.13MB", 1_000_000_000: "1GB"} {
		if got := DecimalSize(n); got != want {
			t.Errorf("DecimalSize(%d) = %q, want %q", n, got, want)
		}
	}
}
