// Package host reads the bot's own host the way the runbook's daily check
// does with `df -h` and `free -h`: disk usage of a path's filesystem and
// memory usage, with the same arithmetic as coreutils and procps.
//
// It reads the kernel directly (statfs, /proc), so it needs no tools and no
// context: nothing here waits on the network. Linux only.
package host

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Disk is the usage of the filesystem that holds Path.
type Disk struct {
	Path  string // as asked
	Mount string // mount point of the filesystem holding Path
	// Device identifies the filesystem (st_dev): two mount points of one
	// filesystem (a bind mount such as Docker's data root) share it.
	Device uint64
	Total  uint64 // bytes
	Used   uint64 // bytes: Total minus free blocks, as df
	Avail  uint64 // bytes available to unprivileged users
	// UsedPercent is df's Use%: Used/(Used+Avail)*100, so blocks reserved
	// for root count as neither. df shows it rounded up.
	UsedPercent float64
}

// DiskUsage reports the filesystem holding path, as `df` does.
func DiskUsage(path string) (Disk, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return Disk{}, fmt.Errorf("disk usage of %s: %w", path, err)
	}
	d := diskFromStatfs(path, &st)
	mount, err := mountOf(path)
	if err != nil {
		return Disk{}, fmt.Errorf("disk usage of %s: %w", path, err)
	}
	d.Mount = mount
	if fi, err := os.Stat(path); err == nil {
		if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
			d.Device = uint64(sys.Dev)
		}
	}
	return d, nil
}

func diskFromStatfs(path string, st *syscall.Statfs_t) Disk {
	unit := uint64(st.Frsize)
	if unit == 0 {
		unit = uint64(st.Bsize)
	}
	d := Disk{
		Path:  path,
		Total: st.Blocks * unit,
		Avail: st.Bavail * unit,
	}
	d.Used = (st.Blocks - st.Bfree) * unit
	if d.Used+d.Avail > 0 {
		d.UsedPercent = float64(d.Used) / float64(d.Used+d.Avail) * 100
	}
	return d
}

// mountOf finds the mount point whose filesystem holds path: the longest
// mount point that is a prefix of the resolved path, the last mounted one
// if several are stacked on it.
func mountOf(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if resolved, err := filepath.EvalSymlinks(abs); err == nil {
		abs = resolved
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("find mount point: %w", err)
	}
	defer f.Close()
	return mountPointFor(abs, f)
}

// mountPointFor reads a mountinfo table (proc(5)) and returns the mount
// point that holds the absolute, resolved path abs.
func mountPointFor(abs string, mountinfo io.Reader) (string, error) {
	best := ""
	sc := bufio.NewScanner(mountinfo)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if !under(abs, mp) {
			continue
		}
		if len(mp) >= len(best) {
			best = mp
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read mountinfo: %w", err)
	}
	if best == "" {
		return "", fmt.Errorf("no mount point holds %s", abs)
	}
	return best, nil
}

func under(path, mountPoint string) bool {
	if mountPoint == "/" {
		return strings.HasPrefix(path, "/")
	}
	return path == mountPoint || strings.HasPrefix(path, mountPoint+"/")
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space,
// \011, \012, \134) in mountinfo paths.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Memory is the host's memory use, as `free` (procps 4) counts it.
type Memory struct {
	Total     uint64 // bytes, MemTotal
	Available uint64 // bytes, MemAvailable: what can be had without swapping
	// Used is Total minus Available, free's "used" since procps 4.
	Used        uint64
	UsedPercent float64 // Used/Total*100
}

// MemoryUsage reads /proc/meminfo.
func MemoryUsage() (Memory, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return Memory{}, fmt.Errorf("memory usage: %w", err)
	}
	defer f.Close()
	m, err := parseMeminfo(f)
	if err != nil {
		return Memory{}, fmt.Errorf("memory usage: /proc/meminfo: %w", err)
	}
	return m, nil
}

// parseMeminfo reads meminfo text (proc(5)). Kernels before 3.14 have no
// MemAvailable; it is then estimated as free does: MemFree + Buffers +
// Cached + SReclaimable.
func parseMeminfo(r io.Reader) (Memory, error) {
	kb := map[string]uint64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("%s: %w", name, err)
		}
		if len(fields) > 1 && fields[1] == "kB" {
			v *= 1024
		}
		kb[name] = v
	}
	if err := sc.Err(); err != nil {
		return Memory{}, err
	}
	total, ok := kb["MemTotal"]
	if !ok || total == 0 {
		return Memory{}, fmt.Errorf("no MemTotal")
	}
	avail, ok := kb["MemAvailable"]
	if !ok {
		free, okFree := kb["MemFree"]
		if !okFree {
			return Memory{}, fmt.Errorf("neither MemAvailable nor MemFree")
		}
		avail = free + kb["Buffers"] + kb["Cached"] + kb["SReclaimable"]
	}
	if avail > total {
		avail = total
	}
	m := Memory{Total: total, Available: avail, Used: total - avail}
	m.UsedPercent = float64(m.Used) / float64(m.Total) * 100
	return m, nil
}

// HumanBytes formats n as df -h does: powers of 1024, rounded up, one
// decimal below 10 ("1.5G", "230M", "12K", "1023").
func HumanBytes(n uint64) string {
	if n < 1024 {
		return strconv.FormatUint(n, 10)
	}
	const units = "KMGTPE"
	for e := 1; e <= len(units); e++ {
		unit := units[e-1]
		v := float64(n) / math.Pow(1024, float64(e))
		if v < 10 {
			t := math.Ceil(v*10) / 10
			if t < 10 {
				return fmt.Sprintf("%.1f%c", t, unit)
			}
			return fmt.Sprintf("10%c", unit)
		}
		if c := math.Ceil(v); c < 1024 || e == len(units) {
			return fmt.Sprintf("%.0f%c", c, unit)
		}
	}
	panic("unreachable")
}
