package host

import (
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

func TestParseMounts(t *testing.T) {
	info := `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
23 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs devtmpfs rw,size=12334192k
24 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
25 22 0:22 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
26 22 0:50 / /var/lib/docker/fuse-overlayfs/abc/merged rw - fuse.fuse-overlayfs fuse-overlayfs rw
27 22 0:51 / /var/lib/docker/overlay2/def/merged rw - overlay overlay rw
28 22 0:52 / /mnt/with\040space rw - tmpfs tmpfs rw
bad line
`
	got, err := parseMounts(strings.NewReader(info))
	if err != nil {
		t.Fatal(err)
	}
	var mounts []string
	for _, m := range got {
		mounts = append(mounts, m.Type+":"+m.Source+":"+m.Mount)
	}
	want := "ext4:/dev/vda:/ devtmpfs:devtmpfs:/dev tmpfs:tmpfs:/mnt/with space"
	if strings.Join(mounts, " ") != want {
		t.Errorf("mounts %q, want %q", strings.Join(mounts, " "), want)
	}
}

func TestDedupe(t *testing.T) {
	list := []Filesystem{
		{Source: "/dev/vda", Disk: Disk{Mount: "/var/lib/docker", Device: 1, Total: 10}},
		{Source: "/dev/vda", Disk: Disk{Mount: "/", Device: 1, Total: 10}},
		{Source: "none", Disk: Disk{Mount: "/empty", Device: 2}},
		{Source: "nfs", Disk: Disk{Mount: "/hung"}, Err: errHung},
	}
	got := dedupe(list)
	if len(got) != 2 || got[0].Mount != "/" || got[1].Mount != "/hung" {
		t.Errorf("dedupe: %+v", got)
	}
}

var errHung = errors.ErrUnsupported

func TestParseFree(t *testing.T) {
	f, err := parseFree(strings.NewReader("MemTotal: 1000 kB\nMemFree: 200 kB\nMemAvailable: 600 kB\nBuffers: 10 kB\nCached: 300 kB\nSReclaimable: 40 kB\nShmem: 5 kB\nSwapTotal: 100 kB\nSwapFree: 30 kB\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Free{Total: 1000 << 10, Used: 400 << 10, Free: 200 << 10, Shared: 5 << 10, BuffCache: 350 << 10, Available: 600 << 10,
		SwapTotal: 100 << 10, SwapUsed: 70 << 10, SwapFree: 30 << 10}
	if f != want {
		t.Errorf("parseFree = %+v, want %+v", f, want)
	}
	if _, err := parseFree(strings.NewReader("MemFree: 1 kB\n")); err == nil {
		t.Error("no MemTotal: want an error")
	}
}

// Differential: the filesystems and memory agree with df and free run
// at the same moment.
func TestFilesystemsAndMemoryAgreeWithDfAndFree(t *testing.T) {
	for _, tool := range []string{"df", "free"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed: %v", tool, err)
		}
	}
	out, err := exec.Command("df", "-B1", "--output=source,fstype,size,used,avail,target").Output()
	if err != nil {
		t.Fatalf("df: %v", err)
	}
	ours, err := Filesystems()
	if err != nil {
		t.Fatal(err)
	}
	byMount := map[string]Filesystem{}
	for _, f := range ours {
		if f.Err != nil {
			t.Errorf("%s: %v", f.Mount, f.Err)
		}
		byMount[f.Mount] = f
	}
	seen := 0
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) != 6 || strings.HasSuffix(f[5], "/merged") {
			continue // a container's root filesystem, left out on purpose
		}
		size, _ := strconv.ParseUint(f[2], 10, 64)
		used, _ := strconv.ParseUint(f[3], 10, 64)
		m, ok := byMount[f[5]]
		if !ok {
			t.Errorf("df lists %s, Filesystems does not", f[5])
			continue
		}
		seen++
		if m.Total != size || m.Source != f[0] || m.Type != f[1] {
			t.Errorf("%s: %s %s %d here, df %s %s %d", f[5], m.Source, m.Type, m.Total, f[0], f[1], size)
		}
		if d := int64(m.Used) - int64(used); d > 64<<20 || d < -(64<<20) {
			t.Errorf("%s: used %d here, df %d", f[5], m.Used, used)
		}
	}
	if seen != len(ours) {
		t.Errorf("Filesystems lists %d, df %d of them", len(ours), seen)
	}

	freeB := func() (total, used uint64) {
		out, err := exec.Command("free", "-b").Output()
		if err != nil {
			t.Fatalf("free: %v", err)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) >= 3 && f[0] == "Mem:" {
				total, _ = strconv.ParseUint(f[1], 10, 64)
				used, _ = strconv.ParseUint(f[2], 10, 64)
			}
		}
		return total, used
	}
	t1, u1 := freeB()
	mem, err := FreeMemory()
	if err != nil {
		t.Fatal(err)
	}
	t2, u2 := freeB()
	lo, hi := min(u1, u2), max(u1, u2)
	if mem.Total != t1 || mem.Total != t2 || mem.Used+128<<20 < lo || mem.Used > hi+128<<20 {
		t.Errorf("memory %d used of %d; free -b said %d then %d of %d", mem.Used, mem.Total, u1, u2, t1)
	}
}
