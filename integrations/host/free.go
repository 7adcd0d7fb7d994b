package host

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// Free is a host's memory as `free` (procps 4) prints it, in bytes.
type Free struct {
	Total, Used, Free, Shared, BuffCache, Available uint64
	SwapTotal, SwapUsed, SwapFree                   uint64
}

// FreeMemory reads /proc/meminfo into free's columns.
func FreeMemory() (Free, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return Free{}, fmt.Errorf("memory usage: %w", err)
	}
	defer f.Close()
	fr, err := parseFree(f)
	if err != nil {
		return Free{}, fmt.Errorf("memory usage: /proc/meminfo: %w", err)
	}
	return fr, nil
}

// parseFree does free's arithmetic: buff/cache = Buffers + Cached +
// SReclaimable; used = total - available (procps 4; before 3.14 kernels
// available is estimated as MemoryUsage does).
func parseFree(r io.Reader) (Free, error) {
	kb := map[string]uint64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(rest)
		if !ok || len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return Free{}, fmt.Errorf("%s: %w", name, err)
		}
		if len(fields) > 1 && fields[1] == "kB" {
			v *= 1024
		}
		kb[name] = v
	}
	if err := sc.Err(); err != nil {
		return Free{}, err
	}
	if kb["MemTotal"] == 0 {
		return Free{}, fmt.Errorf("no MemTotal")
	}
	f := Free{Total: kb["MemTotal"], Free: kb["MemFree"], Shared: kb["Shmem"],
		BuffCache: kb["Buffers"] + kb["Cached"] + kb["SReclaimable"],
		SwapTotal: kb["SwapTotal"], SwapFree: kb["SwapFree"]}
	avail, ok := kb["MemAvailable"]
	if !ok {
		avail = f.Free + f.BuffCache
	}
	f.Available = min(avail, f.Total)
	f.Used = f.Total - f.Available
	if f.SwapTotal >= f.SwapFree {
		f.SwapUsed = f.SwapTotal - f.SwapFree
	}
	return f, nil
}
