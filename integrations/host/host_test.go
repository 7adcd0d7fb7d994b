package host

import (
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// dfP runs `df -P path` and returns its numbers in bytes and its mount point.
func dfP(t *testing.T, path string) (total, used, avail uint64, capacity int, mount string) {
	t.Helper()
	if _, err := exec.LookPath("df"); err != nil {
		t.Skipf("df not installed: %v", err)
	}
	out, err := exec.Command("df", "-P", path).Output()
	if err != nil {
		t.Fatalf("df -P %s: %v", path, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "1024-blocks") {
		t.Fatalf("unexpected df -P output:\n%s", out)
	}
	f := strings.Fields(lines[1])
	n := len(f)
	if n < 6 {
		t.Fatalf("unexpected df -P line %q", lines[1])
	}
	kib := func(s string) uint64 {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("df -P field %q: %v", s, err)
		}
		return v * 1024
	}
	// Filesystem names may hold spaces; count from the right.
	total, used, avail = kib(f[n-5]), kib(f[n-4]), kib(f[n-3])
	capacity = -1
	if c := strings.TrimSuffix(f[n-2], "%"); c != "-" {
		if capacity, err = strconv.Atoi(c); err != nil {
			t.Fatalf("df -P capacity %q: %v", f[n-2], err)
		}
	}
	return total, used, avail, capacity, f[n-1]
}

func TestDiskUsageMatchesDf(t *testing.T) {
	for _, path := range []string{"/", t.TempDir(), "/proc"} {
		t.Run(path, func(t *testing.T) {
			d, err := DiskUsage(path)
			if err != nil {
				t.Fatalf("DiskUsage: %v", err)
			}
			total, used, avail, capacity, mount := dfP(t, path)
			if d.Path != path || d.Mount != mount {
				t.Fatalf("DiskUsage = %+v, df says mounted on %s", d, mount)
			}
			if d.Total/1024 != total/1024 {
				t.Fatalf("Total = %d, df: %d", d.Total, total)
			}
			// Other processes write meanwhile: allow 1% of the disk or 64 MiB.
			tol := max(total/100, 64<<20)
			if diff(d.Used, used) > tol || diff(d.Avail, avail) > tol {
				t.Fatalf("Used/Avail = %d/%d, df: %d/%d", d.Used, d.Avail, used, avail)
			}
			if capacity < 0 {
				if d.UsedPercent != 0 || d.Total != 0 {
					t.Fatalf("df shows no capacity, DiskUsage = %+v", d)
				}
				return
			}
			if got := int(math.Ceil(d.UsedPercent)); got < capacity-1 || got > capacity+1 {
				t.Fatalf("UsedPercent = %.2f, df: %d%%", d.UsedPercent, capacity)
			}
			if d.Used > d.Total || d.Avail > d.Total {
				t.Fatalf("inconsistent %+v", d)
			}
		})
	}
}

func TestDiskUsageThroughSymlinkNamesTheTargetsMount(t *testing.T) {
	link := filepath.Join(t.TempDir(), "to-proc")
	if err := os.Symlink("/proc/self", link); err != nil {
		t.Fatal(err)
	}
	d, err := DiskUsage(link)
	if err != nil {
		t.Fatalf("DiskUsage: %v", err)
	}
	if d.Mount != "/proc" {
		t.Fatalf("Mount = %q, want /proc", d.Mount)
	}
}

func TestDiskUsageMissingPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir")
	_, err := DiskUsage(path)
	if err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("DiskUsage(%s) = %v, want a not-exist error naming the path", path, err)
	}
}

func diff(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}

const mountinfoFixture = `21 26 0:20 / /proc rw,relatime - proc proc rw
26 1 254:0 / / rw,relatime - ext4 /dev/vda rw
30 26 0:25 / /var/lib/docker rw,relatime - ext4 /dev/vdb rw
31 26 0:26 / /srv/my\040backups rw,relatime - ext4 /dev/vdc rw
32 30 0:27 / /var/lib/docker/overlay2 rw - tmpfs tmpfs rw
33 26 0:28 / /var/lib/dockerish rw - tmpfs tmpfs rw
40 26 0:29 / /mnt rw - tmpfs tmpfs rw
41 40 0:30 / /mnt rw - ext4 /dev/vdd rw
`

func TestMountPointFor(t *testing.T) {
	for path, want := range map[string]string{
		"/":                                   "/",
		"/etc/hosts":                          "/",
		"/proc/self":                          "/proc",
		"/var/lib/docker":                     "/var/lib/docker",
		"/var/lib/docker/volumes/x":           "/var/lib/docker",
		"/var/lib/docker/overlay2/abc/merged": "/var/lib/docker/overlay2",
		"/var/lib/dockerish/x":                "/var/lib/dockerish",
		"/var/lib/dockerfile":                 "/",
		"/srv/my backups/daily.sql":           "/srv/my backups",
		"/mnt/x":                              "/mnt", // stacked: the last one is seen
	} {
		got, err := mountPointFor(path, strings.NewReader(mountinfoFixture))
		if err != nil || got != want {
			t.Errorf("mountPointFor(%q) = %q, %v; want %q", path, got, err, want)
		}
	}
	if _, err := mountPointFor("/x", strings.NewReader("")); err == nil {
		t.Error("empty mountinfo gave a mount point")
	}
}

func TestMemoryUsageLive(t *testing.T) {
	m, err := MemoryUsage()
	if err != nil {
		t.Fatalf("MemoryUsage: %v", err)
	}
	if !(0 < m.Used && m.Used < m.Total) || m.Used+m.Available != m.Total {
		t.Fatalf("MemoryUsage = %+v", m)
	}
	if m.UsedPercent <= 0 || m.UsedPercent >= 100 {
		t.Fatalf("UsedPercent = %.2f", m.UsedPercent)
	}
	// free -b prints the same MemTotal.
	if out, err := exec.Command("free", "-b").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "Mem:" {
				if f[1] != strconv.FormatUint(m.Total, 10) {
					t.Fatalf("Total = %d, free -b: %s", m.Total, f[1])
				}
			}
		}
	}
}

const meminfoFixture = `MemTotal:       24683620 kB
MemFree:        21935404 kB
MemAvailable:   22861712 kB
Buffers:          120488 kB
Cached:          1879216 kB
SwapCached:            0 kB
SReclaimable:     133360 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
`

func TestParseMeminfo(t *testing.T) {
	m, err := parseMeminfo(strings.NewReader(meminfoFixture))
	if err != nil {
		t.Fatal(err)
	}
	want := Memory{Total: 24683620 * 1024, Available: 22861712 * 1024, Used: (24683620 - 22861712) * 1024}
	want.UsedPercent = float64(want.Used) / float64(want.Total) * 100
	if m != want {
		t.Fatalf("parseMeminfo = %+v, want %+v", m, want)
	}
	if math.Abs(m.UsedPercent-7.38) > 0.01 {
		t.Fatalf("UsedPercent = %.3f, want 7.38", m.UsedPercent)
	}

	// A kernel before 3.14: no MemAvailable.
	old := strings.Replace(meminfoFixture, "MemAvailable:   22861712 kB\n", "", 1)
	m, err = parseMeminfo(strings.NewReader(old))
	if err != nil {
		t.Fatal(err)
	}
	if wantAvail := uint64(21935404+120488+1879216+133360) * 1024; m.Available != wantAvail {
		t.Fatalf("estimated Available = %d, want %d", m.Available, wantAvail)
	}

	for _, bad := range []string{"", "MemFree: 1 kB\n", "MemTotal: lots kB\n", "MemTotal: 100 kB\n"} {
		if _, err := parseMeminfo(strings.NewReader(bad)); err == nil {
			t.Errorf("parseMeminfo(%q) succeeded", bad)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[uint64]string{
		0:                    "0",
		1023:                 "1023",
		1024:                 "1.0K",
		1536:                 "1.5K",
		1537:                 "1.6K", // df rounds up
		12 * 1024:            "12K",
		10*1024 - 1:          "10K",
		1<<20 - 1:            "1.0M",
		230 << 20:            "230M",
		3 << 29:              "1.5G",
		264212084 * 1024:     "252G",
		1 << 40:              "1.0T",
		math.MaxUint64:       "16E",
		999*(1<<30) + 1<<29:  "1000G",
		1023*(1<<30) + 1<<29: "1.0T",
	} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// coreutils' numfmt rounds and prints exactly as df -h does.
func TestHumanBytesAgreesWithNumfmt(t *testing.T) {
	if _, err := exec.LookPath("numfmt"); err != nil {
		t.Skipf("numfmt not installed: %v", err)
	}
	var args []string
	var ns []uint64
	for n := uint64(1); n < 1<<50; n = n*7 + 3 {
		ns = append(ns, n)
		args = append(args, strconv.FormatUint(n, 10))
	}
	out, err := exec.Command("numfmt", append([]string{"--to=iec", "--round=up"}, args...)...).Output()
	if err != nil {
		t.Fatalf("numfmt: %v", err)
	}
	want := strings.Fields(string(out))
	if len(want) != len(ns) {
		t.Fatalf("numfmt gave %d values for %d", len(want), len(ns))
	}
	for i, n := range ns {
		if got := HumanBytes(n); got != want[i] {
			t.Errorf("HumanBytes(%d) = %q, numfmt: %q", n, got, want[i])
		}
	}
}

func TestDiskUsageDeviceTellsFilesystemsApart(t *testing.T) {
	root, err := DiskUsage("/")
	if err != nil {
		t.Fatal(err)
	}
	tmp, err := DiskUsage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	proc, err := DiskUsage("/proc")
	if err != nil {
		t.Fatal(err)
	}
	if root.Device == 0 || root.Device == proc.Device {
		t.Errorf("/ and /proc are different filesystems: devices %d and %d", root.Device, proc.Device)
	}
	if tmp.Mount == root.Mount && tmp.Device != root.Device {
		t.Errorf("%s is on the mount of / but has device %d, not %d", tmp.Path, tmp.Device, root.Device)
	}
}
