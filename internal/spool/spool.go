// Package spool is a durable, ordered queue on local disk for what must reach
// the bot's database while that database is unreachable (audit entries,
// incident timeline entries).
//
// Append writes one record and fsyncs it before returning, so a record whose
// Append returned survives a crash of the process or the machine. Replay hands
// the records to a function oldest first and forgets each record the function
// accepted, durably, before offering the next. A process killed between the
// function's write to the database and the spool forgetting the record will
// offer that record again after a restart: the receiving side must treat
// Record.ID as an idempotency key (a unique key with ON CONFLICT DO NOTHING),
// which makes delivery exactly once as seen from the database.
//
// On disk a spool directory holds numbered segment files (seg-<gen>.log) of
// framed records — length, CRC-32C, body — an acknowledgement file (ack)
// of fixed-size entries "segment, offset" appended as records are forgotten,
// and a lock file: one process at a time has a directory open.
// A record torn by a crash during Append fails its frame check and is dropped
// at Open, with nothing before it; damage anywhere but the tail makes Open
// fail instead of dropping records silently. When every record has been
// forgotten the spool starts a new empty segment and removes the old one.
package spool

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Record is one spooled entry.
type Record struct {
	// ID is unique forever: the spool instance that wrote it (random, new at
	// every Open) and a sequence number. Use it as an idempotency key.
	ID      string
	Kind    string
	Payload []byte
	At      time.Time
}

// MaxPayload is the largest payload Append accepts.
const MaxPayload = 1 << 20

const (
	frameHeader = 8 // u32 body length, u32 CRC-32C of the body
	maxBody     = MaxPayload + 64<<10
	ackEntry    = 20 // u64 segment, u64 offset, u32 CRC-32C of both
	ackName     = "ack"
	lockName    = "lock"
	segPrefix   = "seg-"
	segSuffix   = ".log"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("spool: closed")

// Spool is an open spool directory. Its methods are safe for concurrent use.
type Spool struct {
	dir      string
	instance string

	mu       sync.Mutex // guards everything below; held by Append for its write+fsync
	closed   bool
	seq      uint64
	segs     []*segment // oldest first; the last one takes appends
	ack      *os.File
	lock     *os.File // flock held while open: one process per directory
	ackAt    position // everything before this is forgotten
	pending  int
	replayMu sync.Mutex      // one Replay at a time
	asideIDs map[string]bool // IDs in the set-aside file
}

type position struct {
	gen uint64
	off int64
}

type segment struct {
	gen  uint64
	f    *os.File
	size int64 // end of the last complete record
	recs []int64
}

// Open opens the spool in dir, creating dir if needed, and recovers what a
// crash left behind: a torn last record is dropped, the records before it kept.
func Open(dir string) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: creating %s: %w", dir, err)
	}
	inst := make([]byte, 8)
	if _, err := rand.Read(inst); err != nil {
		return nil, fmt.Errorf("spool: instance id: %w", err)
	}
	s := &Spool{dir: dir, instance: hex.EncodeToString(inst)}
	lock, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("spool: %s is in use by another process (%v)", dir, err)
	}
	s.lock = lock
	if err := s.recover(); err != nil {
		s.closeFiles()
		return nil, err
	}
	if err := s.readSetAside(); err != nil {
		s.closeFiles()
		return nil, err
	}
	return s, nil
}

// setAsideError marks an error of a Replay function as final for its record.
type setAsideError struct{ err error }

func (e *setAsideError) Error() string { return e.err.Error() }
func (e *setAsideError) Unwrap() error { return e.err }

// SetAside wraps err, the reason why the receiving side refuses a record
// for good, so that Replay sets the record aside and goes on (see the
// package doc) instead of stopping there.
func SetAside(err error) error {
	if err == nil {
		err = errors.New("refused")
	}
	return &setAsideError{err: err}
}

// IsSetAside reports whether err was made by SetAside.
func IsSetAside(err error) bool {
	var e *setAsideError
	return errors.As(err, &e)
}

// SetAsidePath is the file records refused for good are kept in: beside
// the spool directory, never deleted by the spool.
func (s *Spool) SetAsidePath() string { return filepath.Clean(s.dir) + ".set-aside" }

// SetAsideCount is how many records the set-aside file holds (0 once an
// operator removed it).
func (s *Spool) SetAsideCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.asideIDs) > 0 {
		if _, err := os.Stat(s.SetAsidePath()); errors.Is(err, os.ErrNotExist) {
			s.asideIDs = map[string]bool{}
		}
	}
	return len(s.asideIDs)
}

// asideLine is one line of the set-aside file.
type asideLine struct {
	ID            string          `json:"id"`
	Kind          string          `json:"kind"`
	At            time.Time       `json:"at"`
	SetAsideAt    time.Time       `json:"set_aside_at"`
	Reason        string          `json:"reason"`
	Payload       json.RawMessage `json:"payload,omitempty"`        // when it is JSON
	PayloadBase64 []byte          `json:"payload_base64,omitempty"` // otherwise
}

// readSetAside counts the records in the set-aside file (a record set
// aside twice, by a replay interrupted before it forgot it, counts once).
func (s *Spool) readSetAside() error {
	s.asideIDs = map[string]bool{}
	data, err := os.ReadFile(s.SetAsidePath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("spool: reading %s: %w", s.SetAsidePath(), err)
	}
	for _, line := range bytes.Split(data, []byte{'\n'}) {
		var l asideLine
		if len(bytes.TrimSpace(line)) == 0 || json.Unmarshal(line, &l) != nil {
			continue // a line torn by a crash: its record is still in the spool
		}
		s.asideIDs[l.ID] = true
	}
	return nil
}

// setAside appends r to the set-aside file and syncs it.
func (s *Spool) setAside(r Record, reason error) error {
	l := asideLine{ID: r.ID, Kind: r.Kind, At: r.At, SetAsideAt: time.Now().UTC(), Reason: reason.Error()}
	if json.Valid(r.Payload) {
		l.Payload = r.Payload
	} else {
		l.PayloadBase64 = r.Payload
	}
	line, err := json.Marshal(l)
	if err != nil {
		return fmt.Errorf("spool: setting record %s aside: %w", r.ID, err)
	}
	path := s.SetAsidePath()
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spool: setting record %s aside: %w", r.ID, err)
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && statErr != nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		return fmt.Errorf("spool: setting record %s aside in %s: %w", r.ID, path, err)
	}
	s.mu.Lock()
	s.asideIDs[r.ID] = true
	s.mu.Unlock()
	return nil
}

func (s *Spool) recover() error {
	ackAt, err := readAck(filepath.Join(s.dir, ackName))
	if err != nil {
		return err
	}
	gens, err := listSegments(s.dir)
	if err != nil {
		return err
	}
	for _, g := range gens {
		if g < ackAt.gen {
			// Forgotten entirely before a crash interrupted its removal.
			if err := os.Remove(segPath(s.dir, g)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("spool: removing old segment: %w", err)
			}
			continue
		}
		seg, err := openSegment(s.dir, g)
		if err != nil {
			return err
		}
		s.segs = append(s.segs, seg)
	}
	if len(s.segs) == 0 {
		g := ackAt.gen
		if g == 0 {
			g = 1
		}
		seg, err := createSegment(s.dir, g)
		if err != nil {
			return err
		}
		s.segs = append(s.segs, seg)
		if ackAt.gen != g {
			ackAt = position{gen: g}
		}
	}
	if ackAt.gen < s.segs[0].gen {
		ackAt = position{gen: s.segs[0].gen}
	}
	s.ackAt = ackAt
	for _, seg := range s.segs {
		for _, off := range seg.recs {
			if seg.gen > ackAt.gen || off >= ackAt.off {
				s.pending++
			}
		}
	}
	// Rewrite the ack file compactly: one entry.
	return s.resetAck(ackAt)
}

func segPath(dir string, gen uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%s%016d%s", segPrefix, gen, segSuffix))
}

func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: reading %s: %w", dir, err)
	}
	var gens []uint64
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, segPrefix) || !strings.HasSuffix(n, segSuffix) {
			continue
		}
		g, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(n, segPrefix), segSuffix), 10, 64)
		if err != nil || g == 0 {
			continue
		}
		gens = append(gens, g)
	}
	sort.Slice(gens, func(i, j int) bool { return gens[i] < gens[j] })
	return gens, nil
}

func createSegment(dir string, gen uint64) (*segment, error) {
	f, err := os.OpenFile(segPath(dir, gen), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: creating segment: %w", err)
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, err
	}
	return &segment{gen: gen, f: f}, nil
}

// openSegment reads a segment's frames and truncates a torn tail.
func openSegment(dir string, gen uint64) (*segment, error) {
	path := segPath(dir, gen)
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: opening segment: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("spool: reading %s: %w", path, err)
	}
	seg := &segment{gen: gen, f: f}
	off := int64(0)
	for off < int64(len(data)) {
		_, n, err := decodeFrame(data[off:])
		if err == nil {
			seg.recs = append(seg.recs, off)
			off += int64(n)
			continue
		}
		if !tornTail(data[off:]) {
			f.Close()
			return nil, fmt.Errorf("spool: %s is damaged at byte %d (not a torn last record): %v; move it aside to start anew", path, off, err)
		}
		break
	}
	if off < int64(len(data)) {
		if err := f.Truncate(off); err != nil {
			f.Close()
			return nil, fmt.Errorf("spool: dropping the torn last record of %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("spool: syncing %s: %w", path, err)
		}
	}
	seg.size = off
	return seg, nil
}

// tornTail reports whether b, which does not start with a valid frame, is
// what an interrupted Append leaves: a frame cut short, or a frame whose
// declared length reaches the end of the file, or zeros the file system
// allocated but never wrote.
func tornTail(b []byte) bool {
	if len(b) < frameHeader {
		return true
	}
	n := int64(binary.BigEndian.Uint32(b[0:4]))
	if n > 0 && n <= maxBody && frameHeader+n >= int64(len(b)) {
		return true
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

var errFrame = errors.New("bad frame")

// decodeFrame decodes one frame at the start of b and returns the record and
// the frame's length.
func decodeFrame(b []byte) (Record, int, error) {
	if len(b) < frameHeader {
		return Record{}, 0, fmt.Errorf("%w: short header", errFrame)
	}
	n := int64(binary.BigEndian.Uint32(b[0:4]))
	if n == 0 || n > maxBody {
		return Record{}, 0, fmt.Errorf("%w: length %d", errFrame, n)
	}
	if int64(len(b)) < frameHeader+n {
		return Record{}, 0, fmt.Errorf("%w: cut short", errFrame)
	}
	body := b[frameHeader : frameHeader+n]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[4:8]) {
		return Record{}, 0, fmt.Errorf("%w: checksum", errFrame)
	}
	r, err := decodeBody(body)
	if err != nil {
		return Record{}, 0, err
	}
	return r, int(frameHeader + n), nil
}

// body: u16 len(ID) ID u16 len(Kind) Kind i64 At (Unix ns) Payload...
func encodeFrame(r Record) []byte {
	n := 2 + len(r.ID) + 2 + len(r.Kind) + 8 + len(r.Payload)
	b := make([]byte, frameHeader+n)
	body := b[frameHeader:]
	p := 0
	binary.BigEndian.PutUint16(body[p:], uint16(len(r.ID)))
	p += 2
	p += copy(body[p:], r.ID)
	binary.BigEndian.PutUint16(body[p:], uint16(len(r.Kind)))
	p += 2
	p += copy(body[p:], r.Kind)
	binary.BigEndian.PutUint64(body[p:], uint64(r.At.UnixNano()))
	p += 8
	copy(body[p:], r.Payload)
	binary.BigEndian.PutUint32(b[0:4], uint32(n))
	binary.BigEndian.PutUint32(b[4:8], crc32.Checksum(body, castagnoli))
	return b
}

func decodeBody(b []byte) (Record, error) {
	var r Record
	str := func() (string, bool) {
		if len(b) < 2 {
			return "", false
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			return "", false
		}
		v := string(b[2 : 2+n])
		b = b[2+n:]
		return v, true
	}
	var ok bool
	if r.ID, ok = str(); !ok {
		return r, fmt.Errorf("%w: id", errFrame)
	}
	if r.Kind, ok = str(); !ok {
		return r, fmt.Errorf("%w: kind", errFrame)
	}
	if len(b) < 8 {
		return r, fmt.Errorf("%w: time", errFrame)
	}
	r.At = time.Unix(0, int64(binary.BigEndian.Uint64(b))).UTC()
	r.Payload = append([]byte(nil), b[8:]...)
	return r, nil
}

// readAck returns the last complete entry of the ack file (zero if none).
func readAck(path string) (position, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return position{}, nil
	}
	if err != nil {
		return position{}, fmt.Errorf("spool: reading %s: %w", path, err)
	}
	var at position
	for off := 0; off+ackEntry <= len(data); off += ackEntry {
		e := data[off : off+ackEntry]
		if crc32.Checksum(e[:16], castagnoli) != binary.BigEndian.Uint32(e[16:20]) {
			break // torn tail of the ack file: the entries before it hold
		}
		at = position{gen: binary.BigEndian.Uint64(e[0:8]), off: int64(binary.BigEndian.Uint64(e[8:16]))}
	}
	return at, nil
}

func ackBytes(p position) []byte {
	e := make([]byte, ackEntry)
	binary.BigEndian.PutUint64(e[0:8], p.gen)
	binary.BigEndian.PutUint64(e[8:16], uint64(p.off))
	binary.BigEndian.PutUint32(e[16:20], crc32.Checksum(e[:16], castagnoli))
	return e
}

// resetAck replaces the ack file by one holding p, atomically.
func (s *Spool) resetAck(p position) error {
	path := filepath.Join(s.dir, ackName)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("spool: writing ack: %w", err)
	}
	if _, err := f.Write(ackBytes(p)); err != nil {
		f.Close()
		return fmt.Errorf("spool: writing ack: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("spool: syncing ack: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		f.Close()
		return fmt.Errorf("spool: replacing ack: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return err
	}
	if s.ack != nil {
		s.ack.Close()
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return fmt.Errorf("spool: ack: %w", err)
	}
	s.ack = f
	s.ackAt = p
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool: opening %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("spool: syncing %s: %w", dir, err)
	}
	return nil
}

// Append writes a record and makes it durable (fsync) before returning it.
func (s *Spool) Append(kind string, payload []byte) (Record, error) {
	if len(payload) > MaxPayload {
		return Record{}, fmt.Errorf("spool: payload of %d bytes is over the %d-byte limit", len(payload), MaxPayload)
	}
	if len(kind) > 1024 {
		return Record{}, fmt.Errorf("spool: kind is over 1024 bytes")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Record{}, ErrClosed
	}
	seg := s.segs[len(s.segs)-1]
	r := Record{
		ID:      fmt.Sprintf("%s-%d", s.instance, s.seq+1),
		Kind:    kind,
		Payload: append([]byte(nil), payload...),
		At:      time.Now().UTC(),
	}
	frame := encodeFrame(r)
	if _, err := seg.f.WriteAt(frame, seg.size); err != nil {
		// Cut back whatever part was written, so the next Append does not
		// land after a torn frame.
		_ = seg.f.Truncate(seg.size)
		return Record{}, fmt.Errorf("spool: writing record: %w", err)
	}
	if err := seg.f.Sync(); err != nil {
		_ = seg.f.Truncate(seg.size)
		return Record{}, fmt.Errorf("spool: syncing record: %w", err)
	}
	s.seq++
	seg.recs = append(seg.recs, seg.size)
	seg.size += int64(len(frame))
	s.pending++
	return r, nil
}

// Len returns the number of records not yet forgotten.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// next returns the oldest record not yet forgotten and where it ends, or
// ok=false when there is none.
func (s *Spool) next() (r Record, end position, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Record{}, position{}, false, ErrClosed
	}
	for _, seg := range s.segs {
		if seg.gen < s.ackAt.gen {
			continue
		}
		i := 0
		if seg.gen == s.ackAt.gen {
			i = sort.Search(len(seg.recs), func(i int) bool { return seg.recs[i] >= s.ackAt.off })
		}
		for _, off := range seg.recs[i:] {
			length := seg.size - off
			buf := make([]byte, frameHeader)
			if _, err := seg.f.ReadAt(buf, off); err != nil {
				return Record{}, position{}, false, fmt.Errorf("spool: reading record: %w", err)
			}
			n := int64(binary.BigEndian.Uint32(buf[0:4]))
			if frameHeader+n > length {
				return Record{}, position{}, false, fmt.Errorf("spool: record at %d runs past the segment's end", off)
			}
			buf = make([]byte, frameHeader+n)
			if _, err := seg.f.ReadAt(buf, off); err != nil {
				return Record{}, position{}, false, fmt.Errorf("spool: reading record: %w", err)
			}
			r, m, err := decodeFrame(buf)
			if err != nil {
				return Record{}, position{}, false, fmt.Errorf("spool: record at %d: %w", off, err)
			}
			return r, position{gen: seg.gen, off: off + int64(m)}, true, nil
		}
	}
	return Record{}, position{}, false, nil
}

// forget durably records that everything before p has been delivered, and
// starts a fresh segment when nothing is left.
func (s *Spool) forget(p position) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if _, err := s.ack.Write(ackBytes(p)); err != nil {
		return fmt.Errorf("spool: writing ack: %w", err)
	}
	if err := s.ack.Sync(); err != nil {
		return fmt.Errorf("spool: syncing ack: %w", err)
	}
	s.ackAt = p
	s.pending--
	// Segments before p's are done.
	for len(s.segs) > 1 && s.segs[0].gen < p.gen {
		old := s.segs[0]
		old.f.Close()
		if err := os.Remove(segPath(s.dir, old.gen)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("spool: removing segment: %w", err)
		}
		s.segs = s.segs[1:]
	}
	last := s.segs[len(s.segs)-1]
	if s.pending == 0 && p.gen == last.gen && p.off == last.size {
		return s.rotate()
	}
	return nil
}

// rotate starts a new empty segment once everything has been forgotten; a
// crash at any step leaves a state recover understands.
func (s *Spool) rotate() error {
	old := s.segs[len(s.segs)-1]
	seg, err := createSegment(s.dir, old.gen+1)
	if err != nil {
		return err
	}
	s.segs = append(s.segs, seg)
	if err := s.resetAck(position{gen: seg.gen}); err != nil {
		return err
	}
	old.f.Close()
	s.segs = s.segs[len(s.segs)-1:]
	if err := os.Remove(segPath(s.dir, old.gen)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool: removing segment: %w", err)
	}
	return nil
}

// Replay calls fn with every record not yet forgotten, oldest first,
// including records appended while it runs. A record fn accepts (returns nil
// for) is forgotten durably before the next one is offered. A record fn
// refuses with an error made by SetAside is written to the set-aside file,
// then forgotten, and the replay goes on. Any other error stops the replay
// and is returned, that record staying in the spool. It returns how many
// records were delivered (set-aside ones are not counted). Replays are serialized; Append
// may run concurrently and is never blocked by fn.
func (s *Spool) Replay(ctx context.Context, fn func(ctx context.Context, r Record) error) (int, error) {
	s.replayMu.Lock()
	defer s.replayMu.Unlock()
	done := 0
	for {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		r, end, ok, err := s.next()
		if err != nil {
			return done, err
		}
		if !ok {
			return done, nil
		}
		ferr := fn(ctx, r)
		if ferr != nil && !IsSetAside(ferr) {
			return done, ferr
		}
		if ferr != nil {
			if err := s.setAside(r, ferr); err != nil {
				return done, err
			}
		}
		if err := s.forget(end); err != nil {
			return done, err
		}
		if ferr == nil {
			done++
		}
	}
}

// Close closes the spool's files. Records not yet forgotten stay on disk for
// the next Open.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.closeFiles()
}

func (s *Spool) closeFiles() error {
	var first error
	for _, seg := range s.segs {
		if err := seg.f.Close(); err != nil && first == nil {
			first = err
		}
	}
	if s.ack != nil {
		if err := s.ack.Close(); err != nil && first == nil {
			first = err
		}
	}
	if s.lock != nil {
		s.lock.Close() // releases the flock
	}
	return first
}
