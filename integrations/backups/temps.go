package backups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"
)

// TempPattern is the name of the hidden temporary file a dump is written
// to before it is checked and given its final name (backup create, and the
// safety backup of a restore: .shiftwise_pre_restore_…). A file of this
// name that no dump is writing is what a dump killed outright (SIGKILL,
// power loss) leaves behind.
const TempPattern = ".shiftwise_*.sql.*.tmp"

// TempGrace is how long a temporary file nobody holds a lock on still
// counts as in use: it covers the instant between creating the file and
// locking it. On a filesystem without flock the file counts as in use
// until it is older than TempUnlockedBound.
const (
	TempGrace         = time.Minute
	TempUnlockedBound = 2 * time.Hour // longer than any dump's deadline (create 30m, restore 60m)
)

// Temp is one temporary dump file in the backup directory.
type Temp struct {
	Path    string
	Name    string
	Size    int64
	ModTime time.Time
	// InUse: a dump in progress (in this or another bot process) holds
	// its lock, or it was written to within TempGrace. Only a file not in
	// use is a leftover that cleanup removes.
	InUse bool
}

// CreateTemp creates a dump's temporary file in dir, named after
// TempPattern ("." + prefix + "_" + stamp + ".sql.*.tmp"), and holds an
// exclusive lock on it (flock) until the file is closed — by the dump, or
// by the kernel when the process dies — so that cleanup can tell a
// running dump from a leftover one. A filesystem without flock gets the
// file unlocked (see TempUnlockedBound).
func CreateTemp(dir, prefix, stamp string) (*os.File, error) {
	f, err := os.CreateTemp(dir, "."+prefix+"_"+stamp+".sql.*.tmp")
	if err != nil {
		return nil, err
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	return f, nil
}

// Temps lists the temporary dump files in dir (TempPattern), oldest first,
// each marked in use or not as of now. A missing directory has none.
func Temps(dir string, now time.Time) ([]Temp, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("list temporary files in %s: %w", dir, err)
	}
	var out []Temp
	for _, e := range entries {
		if ok, _ := filepath.Match(TempPattern, e.Name()); !ok || !e.Type().IsRegular() {
			continue // links and directories of that name are not ours
		}
		t, err := statTemp(filepath.Join(dir, e.Name()), now)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // its dump finished meanwhile
			}
			return nil, fmt.Errorf("list temporary files in %s: %w", dir, err)
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ModTime.Before(out[j].ModTime) })
	return out, nil
}

func statTemp(path string, now time.Time) (Temp, error) {
	f, err := os.Open(path)
	if err != nil {
		return Temp{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return Temp{}, err
	}
	t := Temp{Path: path, Name: filepath.Base(path), Size: info.Size(), ModTime: info.ModTime()}
	t.InUse = inUse(f, info, now)
	return t, nil
}

// inUse tells whether a dump may still be writing the open file f. A
// lock taken here to find out is released before returning.
func inUse(f *os.File, info os.FileInfo, now time.Time) bool {
	age := now.Sub(info.ModTime())
	if age < TempGrace {
		return true
	}
	switch err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); {
	case err == nil:
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return false
	case errors.Is(err, syscall.EWOULDBLOCK):
		return true
	default: // no flock here: only age tells
		return age < TempUnlockedBound
	}
}

// RemoveTemp removes a leftover temporary file, holding its lock while it
// does so that a dump cannot be using it; a file that turned out to be
// in use meanwhile is left alone (removed false, no error).
func RemoveTemp(t Temp, now time.Time) (removed bool, err error) {
	f, err := os.Open(t.Path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("remove %s: %w", t.Name, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return false, fmt.Errorf("remove %s: %w", t.Name, err)
	}
	if inUse(f, info, now) {
		return false, nil
	}
	// Hold the lock across the removal: a dump locks its file at once.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil && errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	// The name may now belong to another file (removed and made again).
	cur, err := os.Lstat(t.Path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("remove %s: %w", t.Name, err)
	}
	if !os.SameFile(cur, info) {
		return false, nil
	}
	if err := os.Remove(t.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("remove %s: %w", t.Name, err)
	}
	return true, nil
}
