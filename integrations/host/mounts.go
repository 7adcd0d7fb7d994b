package host

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Filesystem is one mounted filesystem as a line of `df -h` shows it.
type Filesystem struct {
	Source string // the device or source ("/dev/vda", "tmpfs")
	Type   string // ext4, tmpfs, ...
	Disk          // usage; Disk.Mount is the mount point
	// Err is set when the filesystem did not answer statfs in time (a
	// hung network mount) or refused it; the usage fields are then zero.
	Err error
}

// pseudo are filesystem types df leaves out by default (they hold no
// blocks: kernel interfaces, not storage).
var pseudo = map[string]bool{
	"proc": true, "sysfs": true, "cgroup": true, "cgroup2": true, "devpts": true, "mqueue": true,
	"debugfs": true, "tracefs": true, "securityfs": true, "pstore": true, "bpf": true, "configfs": true,
	"fusectl": true, "hugetlbfs": true, "autofs": true, "binfmt_misc": true, "nsfs": true,
	"rpc_pipefs": true, "selinuxfs": true, "efivarfs": true,
}

// statfsTimeout bounds statfs of one filesystem: a hung NFS server must
// not hang the bot.
const statfsTimeout = 2 * time.Second

// Filesystems lists the mounted filesystems as `df` does by default: no
// pseudo filesystems, none of zero size, one line per filesystem (the
// shortest mount point of those sharing a device). Containers' root
// filesystems (overlay mounts under Docker's data root) are left out:
// they are the data root's space again. Each statfs is bounded.
func Filesystems() ([]Filesystem, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("list filesystems: %w", err)
	}
	defer f.Close()
	mounts, err := parseMounts(f)
	if err != nil {
		return nil, fmt.Errorf("list filesystems: %w", err)
	}
	out := make([]Filesystem, len(mounts))
	var wg sync.WaitGroup
	for i, m := range mounts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = statMount(m)
		}()
	}
	wg.Wait()
	return dedupe(out), nil
}

func statMount(m Filesystem) Filesystem {
	type answer struct {
		d   Disk
		dev uint64
		err error
	}
	ch := make(chan answer, 1)
	go func() { // left behind if the filesystem hangs; it ends with the syscall
		var st syscall.Statfs_t
		if err := syscall.Statfs(m.Mount, &st); err != nil {
			ch <- answer{err: err}
			return
		}
		d := diskFromStatfs(m.Mount, &st)
		var dev uint64
		if fi, err := os.Stat(m.Mount); err == nil {
			if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
				dev = uint64(sys.Dev)
			}
		}
		ch <- answer{d: d, dev: dev}
	}()
	select {
	case a := <-ch:
		if a.err != nil {
			m.Err = a.err
			return m
		}
		mount := m.Mount
		m.Disk = a.d
		m.Disk.Mount, m.Disk.Device = mount, a.dev
	case <-time.After(statfsTimeout):
		m.Err = fmt.Errorf("no answer within %s", statfsTimeout)
	}
	return m
}

// parseMounts reads mountinfo (proc(5)): mount point is field 5, and
// after the " - " separator come the type and the source.
func parseMounts(r io.Reader) ([]Filesystem, error) {
	var out []Filesystem
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(tail) < 2 {
			continue
		}
		m := Filesystem{Type: tail[0], Source: unescapeMountinfo(tail[1])}
		m.Mount = unescapeMountinfo(fields[4])
		m.Path = m.Mount
		if pseudo[m.Type] || containerRoot(m) {
			continue
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// containerRoot is a container's root filesystem mounted by the storage
// driver (…/overlay2/<id>/merged, …/fuse-overlayfs/<id>/merged).
func containerRoot(m Filesystem) bool {
	return strings.HasSuffix(m.Mount, "/merged") &&
		(strings.Contains(m.Mount, "/overlay2/") || strings.Contains(m.Mount, "/fuse-overlayfs/") || strings.Contains(m.Mount, "/overlay/"))
}

// dedupe drops filesystems of zero size and keeps one line per device,
// the shortest mount point, sorted by mount point.
func dedupe(list []Filesystem) []Filesystem {
	byDev := map[uint64]int{}
	var out []Filesystem
	for _, m := range list {
		if m.Err == nil && m.Total == 0 {
			continue
		}
		if m.Err == nil && m.Device != 0 {
			if i, ok := byDev[m.Device]; ok {
				if len(m.Mount) < len(out[i].Mount) {
					out[i] = m
				}
				continue
			}
			byDev[m.Device] = len(out)
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Mount < out[j].Mount })
	return out
}
