// Package backups reads the ShiftWise backup directory (SHIFTWISE_BACKUP_DIR):
// which pg_dump files are there, which is the newest, and whether a file is
// really a dump — the runbook's "Verify backup completion" and "Backup
// Verification".
//
// It reads local files only; nothing here waits on the network.
package backups

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Formats of a backup, as found in its first bytes.
const (
	FormatPlain      = "plain"       // pg_dump SQL text: restore with psql
	FormatCustom     = "custom"      // pg_dump -Fc: restore with pg_restore
	FormatGzipPlain  = "gzip+plain"  // gzip of plain SQL: gunzip | psql
	FormatGzipCustom = "gzip+custom" // gzip of a custom dump: gunzip, then pg_restore
)

// ErrNoBackup means the directory holds no backup file.
var ErrNoBackup = errors.New("no backup found")

// Backup is one backup file.
type Backup struct {
	Path    string // dir joined with Name
	Name    string
	Size    int64
	ModTime time.Time
	Format  string // one of the Format constants
}

const (
	headSize = 1024
	// A plain dump starts with one of these and ends with it + " complete".
	headerDump    = "-- PostgreSQL database dump"
	headerCluster = "-- PostgreSQL database cluster dump" // pg_dumpall
	magicCustom   = "PGDMP"
)

var gzipMagic = []byte{0x1f, 0x8b}

// List returns the backups in dir, newest first: regular files (or
// symbolic links to one that is not listed under its own name) named
// *.sql, *.sql.gz or *.dump. Directories, dotfiles and files still being
// written under another name (*.tmp, *.partial) are not backups.
func List(dir string) ([]Backup, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list backups in %s: %w", dir, err)
	}
	var (
		out   []Backup
		infos []os.FileInfo // of the listed files, to drop links to them
	)
	type link struct {
		b    Backup
		info os.FileInfo
	}
	var links []link
	for _, e := range entries {
		name := e.Name()
		if !isBackupName(name) {
			continue
		}
		path := filepath.Join(dir, name)
		info, err := os.Stat(path) // follows a link to its target
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // removed meanwhile, or a dangling link
			}
			return nil, fmt.Errorf("list backups in %s: %w", dir, err)
		}
		if !info.Mode().IsRegular() {
			continue
		}
		b := Backup{Path: path, Name: name, Size: info.Size(), ModTime: info.ModTime()}
		b.Format = sniff(path, name)
		if e.Type()&os.ModeSymlink != 0 {
			links = append(links, link{b, info})
			continue
		}
		out = append(out, b)
		infos = append(infos, info)
	}
	// latest_backup.sql -> shiftwise_20240101.sql would list one dump twice.
	for _, l := range links {
		dup := false
		for _, fi := range infos {
			if os.SameFile(fi, l.info) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, l.b)
			infos = append(infos, l.info)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].ModTime.Equal(out[j].ModTime) {
			return out[i].ModTime.After(out[j].ModTime)
		}
		return out[i].Name > out[j].Name
	})
	return out, nil
}

// Latest returns the newest backup in dir, or an error satisfying
// errors.Is(err, ErrNoBackup) when there is none.
func Latest(dir string) (Backup, error) {
	list, err := List(dir)
	if err != nil {
		return Backup{}, err
	}
	if len(list) == 0 {
		return Backup{}, fmt.Errorf("latest backup in %s: %w", dir, ErrNoBackup)
	}
	return list[0], nil
}

func isBackupName(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	lower := strings.ToLower(name)
	for _, ext := range []string{".sql", ".sql.gz", ".dump"} {
		if strings.HasSuffix(lower, ext) && len(lower) > len(ext) {
			return true
		}
	}
	return false
}

// sniff tells the format from the first bytes, or from the name when the
// file cannot be read or is empty.
func sniff(path, name string) string {
	byName := FormatPlain
	switch lower := strings.ToLower(name); {
	case strings.HasSuffix(lower, ".gz"):
		byName = FormatGzipPlain
	case strings.HasSuffix(lower, ".dump"):
		byName = FormatCustom
	}
	f, err := os.Open(path)
	if err != nil {
		return byName
	}
	defer f.Close()
	br := bufio.NewReader(f)
	head, _ := br.Peek(len(magicCustom))
	switch {
	case len(head) == 0:
		return byName
	case bytes.HasPrefix(head, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return FormatGzipPlain
		}
		inner := make([]byte, len(magicCustom))
		n, _ := io.ReadFull(zr, inner)
		if string(inner[:n]) == magicCustom {
			return FormatGzipCustom
		}
		return FormatGzipPlain
	case string(head) == magicCustom:
		return FormatCustom
	}
	return FormatPlain
}

// Inspect checks that b is a real, complete pg_dump file, reading its
// content (its Format is found again, not trusted):
//   - not empty;
//   - custom: starts with PGDMP;
//   - plain: a pg_dump (or pg_dumpall) header in the first KB, and the
//     "dump complete" line at the end, which a dump cut short (disk full,
//     killed pg_dump) lacks;
//   - gzip: a valid gzip stream read to its end (a cut-short stream lacks
//     its trailer, a damaged one fails its checksum) whose first KB passes
//     as above and, for plain SQL, whose last KB holds the "dump complete"
//     line. Reading a whole compressed dump takes time: the verdict is
//     remembered per file (path, size, modification time, inode), so a
//     file is decompressed once per process while it stays the same.
//
// The error says what is wrong, naming the file.
func Inspect(b Backup) error {
	return InspectContext(context.Background(), b)
}

// InspectContext is Inspect that gives up when ctx ends (while reading a
// gzip stream); the error then says the file could not be checked.
func InspectContext(ctx context.Context, b Backup) error {
	if err := inspect(ctx, b.Path); err != nil {
		return fmt.Errorf("backup %s: %w", b.Path, err)
	}
	return nil
}

func inspect(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if info.Size() == 0 {
		return errors.New("empty file")
	}
	head := make([]byte, headSize)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("read: %w", err)
	}
	head = head[:n]

	if bytes.HasPrefix(head, gzipMagic) {
		key, cacheable := gzipKey(path, info)
		if cacheable {
			if verdict, ok := gzipVerdicts.get(key); ok {
				return verdict
			}
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("read: %w", err)
		}
		err := inspectGzip(ctx, f)
		if cacheable && ctx.Err() == nil {
			gzipVerdicts.put(key, err)
		}
		return err
	}
	if bytes.HasPrefix(head, []byte(magicCustom)) {
		return nil
	}
	if !hasDumpHeader(head) {
		return errors.New("no pg_dump header in the first KB (neither plain SQL from pg_dump nor a custom-format PGDMP file)")
	}
	tail, err := readTail(f, info.Size(), headSize)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if !bytes.Contains(tail, []byte("dump complete")) {
		return errors.New(`truncated: no "-- PostgreSQL database dump complete" line at the end`)
	}
	return nil
}

// inspectGzip reads a whole gzip stream (every member), checking its
// first KB as a dump's and, for plain SQL, its last KB for the
// completion line.
func inspectGzip(ctx context.Context, r io.Reader) error {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("not a valid gzip file: %w", err)
	}
	inner := make([]byte, headSize)
	n, err := io.ReadFull(zr, inner)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return gzipErr(err)
	}
	inner = inner[:n]
	if n == 0 {
		// Ended cleanly, or cut short before any content?
		if _, err := zr.Read(make([]byte, 1)); err != nil && !errors.Is(err, io.EOF) {
			return gzipErr(err)
		}
		return errors.New("empty file inside gzip")
	}
	custom := bytes.HasPrefix(inner, []byte(magicCustom))
	if !custom && !hasDumpHeader(inner) {
		return errors.New("no pg_dump header in the first KB inside gzip")
	}
	tail := &tailWriter{n: headSize}
	tail.Write(inner)
	buf := make([]byte, 256<<10)
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("not checked to its end in time: %w", err)
		}
		k, err := zr.Read(buf)
		tail.Write(buf[:k])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return gzipErr(err)
		}
	}
	if !custom && !bytes.Contains(tail.b, []byte("dump complete")) {
		return errors.New(`truncated: no "-- PostgreSQL database dump complete" line at the end inside gzip`)
	}
	return nil
}

func gzipErr(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("truncated: the gzip stream ends early")
	}
	return fmt.Errorf("corrupt gzip data: %w", err)
}

// tailWriter keeps the last n bytes written to it.
type tailWriter struct {
	b []byte
	n int
}

func (t *tailWriter) Write(p []byte) {
	if len(p) >= t.n {
		t.b = append(t.b[:0], p[len(p)-t.n:]...)
		return
	}
	if over := len(t.b) + len(p) - t.n; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	t.b = append(t.b, p...)
}

// The gzip verdicts already reached, by file identity.
type fileKey struct {
	path       string
	size       int64
	mtime      int64
	dev, inode uint64
}

func gzipKey(path string, info os.FileInfo) (fileKey, bool) {
	k := fileKey{path: path, size: info.Size(), mtime: info.ModTime().UnixNano()}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return k, false
	}
	k.dev, k.inode = uint64(st.Dev), uint64(st.Ino)
	return k, true
}

type verdictCache struct {
	mu sync.Mutex
	m  map[fileKey]error
}

// At most this many verdicts are remembered; the cache starts over when full.
const verdictCacheMax = 4096

var gzipVerdicts = &verdictCache{}

func (c *verdictCache) get(k fileKey) (error, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *verdictCache) put(k fileKey, v error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= verdictCacheMax {
		c.m = map[fileKey]error{}
	}
	c.m[k] = v
}

func hasDumpHeader(head []byte) bool {
	return bytes.Contains(head, []byte(headerDump)) || bytes.Contains(head, []byte(headerCluster))
}

func readTail(f *os.File, size, n int64) ([]byte, error) {
	off := max(size-n, 0)
	buf := make([]byte, size-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf, nil
}
