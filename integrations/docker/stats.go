package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Stats is one container's resource use as `docker stats --no-stream`
// shows it, computed the way the docker CLI computes it.
type Stats struct {
	ID, Name string
	// CPUPercent is the container's share of the host's CPU time between
	// the engine's two samples, times the number of online CPUs: 200 is
	// two whole cores busy.
	CPUPercent float64
	// MemUsage excludes the page cache (inactive files), as the CLI does;
	// MemLimit is the cgroup's limit (the host's memory without one).
	MemUsage, MemLimit uint64
	MemPercent         float64
	NetRx, NetTx       uint64 // bytes, summed over the networks
	BlockRead          uint64 // bytes
	BlockWrite         uint64 // bytes
	PIDs               uint64
}

// Stats takes one sample of the container's resource use. The engine
// answers after its second sample (about a second), so the CPU share
// covers that interval, as with `docker stats --no-stream`. A stopped
// container answers with zeros.
func (c *Client) Stats(ctx context.Context, containerID string) (Stats, error) {
	ctx, cancel := withDefaultTimeout(ctx, defaultCallTimeout)
	defer cancel()
	fail := func(err error) (Stats, error) {
		return Stats{}, fmt.Errorf("docker: stats of container %s: %w", shortID(containerID), err)
	}
	if err := c.negotiate(ctx); err != nil {
		return fail(err)
	}
	res, err := c.api.ContainerStats(ctx, containerID, client.ContainerStatsOptions{Stream: false, IncludePreviousSample: true})
	if err != nil {
		return fail(err)
	}
	defer res.Body.Close()
	var v container.StatsResponse
	if err := json.NewDecoder(io.LimitReader(res.Body, 4<<20)).Decode(&v); err != nil {
		return fail(fmt.Errorf("decode: %w", err))
	}
	s := statsFrom(v)
	if s.ID == "" {
		s.ID = containerID
	}
	return s, nil
}

func statsFrom(v container.StatsResponse) Stats {
	s := Stats{ID: v.ID, Name: trimSlash(v.Name), PIDs: v.PidsStats.Current}
	s.CPUPercent = cpuPercent(v.PreCPUStats, v.CPUStats)
	s.MemUsage = memUsageNoCache(v.MemoryStats)
	s.MemLimit = v.MemoryStats.Limit
	if s.MemLimit != 0 {
		s.MemPercent = float64(s.MemUsage) / float64(s.MemLimit) * 100
	}
	for _, n := range v.Networks {
		s.NetRx += n.RxBytes
		s.NetTx += n.TxBytes
	}
	for _, e := range v.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(e.Op) {
		case "read":
			s.BlockRead += e.Value
		case "write":
			s.BlockWrite += e.Value
		}
	}
	return s
}

// cpuPercent is the docker CLI's calculateCPUPercentUnix: the container's
// CPU time over the system's between two samples, times the online CPUs.
func cpuPercent(prev, cur container.CPUStats) float64 {
	cpuDelta := float64(cur.CPUUsage.TotalUsage) - float64(prev.CPUUsage.TotalUsage)
	systemDelta := float64(cur.SystemUsage) - float64(prev.SystemUsage)
	online := float64(cur.OnlineCPUs)
	if online == 0 {
		online = float64(len(cur.CPUUsage.PercpuUsage))
	}
	if systemDelta > 0 && cpuDelta > 0 {
		return cpuDelta / systemDelta * online * 100
	}
	return 0
}

// memUsageNoCache is the docker CLI's calculateMemUsageUnixNoCache: usage
// without inactive page cache (cgroup v1 total_inactive_file, v2
// inactive_file).
func memUsageNoCache(m container.MemoryStats) uint64 {
	if v, ok := m.Stats["total_inactive_file"]; ok && v < m.Usage {
		return m.Usage - v
	}
	if v := m.Stats["inactive_file"]; v < m.Usage {
		return m.Usage - v
	}
	return m.Usage
}

// BinarySize formats n as the docker CLI's memory columns do (go-units
// BytesSize): four significant digits and a binary unit, "1.547MiB".
func BinarySize(n uint64) string {
	return unitSize(float64(n), 1024, []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"})
}

// DecimalSize formats n as the docker CLI's network and block I/O
// columns do (go-units HumanSizeWithPrecision, 3 digits): "1.23MB".
func DecimalSize(n uint64) string {
	v, units := float64(n), []string{"B", "kB", "MB", "GB", "TB", "PB"}
	i := 0
	for v >= 1000 && i < len(units)-1 {
		v /= 1000
		i++
	}
	return fmt.Sprintf("%.3g%s", v, units[i])
}

func unitSize(v, base float64, units []string) string {
	i := 0
	for v >= base && i < len(units)-1 {
		v /= base
		i++
	}
	return fmt.Sprintf("%.4g%s", v, units[i])
}
