package spool

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// The test binary doubles as the child process the crash tests kill.
func TestMain(m *testing.M) {
	switch os.Getenv("SPOOL_TEST_CHILD") {
	case "append":
		childAppend(os.Getenv("SPOOL_TEST_DIR"))
		return
	case "replay":
		childReplay(os.Getenv("SPOOL_TEST_DIR"), os.Getenv("SPOOL_TEST_DB"))
		return
	}
	os.Exit(m.Run())
}

// childAppend appends until killed, printing each ID once Append returned.
func childAppend(dir string) {
	s, err := Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	payload := []byte(strings.Repeat("p", 3000))
	for i := 0; i < 1_000_000; i++ {
		r, err := s.Append("audit", payload)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Fprintln(out, r.ID)
		out.Flush()
	}
	os.Exit(3)
}

// childReplay replays into a file standing for the database: each record is
// written there (and synced) before fn returns, so a kill can fall between
// the "database" write and the spool forgetting the record.
func childReplay(dir, db string) {
	s, err := Open(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	f, err := os.OpenFile(db, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("ready")
	_, err = s.Replay(context.Background(), func(_ context.Context, r Record) error {
		if _, err := f.WriteString(r.ID + "\n"); err != nil {
			return err
		}
		return f.Sync()
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(0)
}

func mustOpen(t testing.TB, dir string) *Spool {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func drain(t testing.TB, s *Spool) []Record {
	t.Helper()
	var got []Record
	if _, err := s.Replay(context.Background(), func(_ context.Context, r Record) error {
		got = append(got, r)
		return nil
	}); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	return got
}

func TestAppendReplayOrderAndReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	s := mustOpen(t, dir)
	var want []Record
	for i := 0; i < 50; i++ {
		r, err := s.Append(fmt.Sprintf("kind-%d", i%3), []byte(fmt.Sprintf("payload %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	if s.Len() != 50 {
		t.Fatalf("Len = %d, want 50", s.Len())
	}
	// Closed and reopened: everything is still there, in order.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append("x", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
	s = mustOpen(t, dir)
	defer s.Close()
	if s.Len() != 50 {
		t.Fatalf("Len after reopen = %d, want 50", s.Len())
	}
	got := drain(t, s)
	if len(got) != len(want) {
		t.Fatalf("replayed %d records, want %d", len(got), len(want))
	}
	seen := map[string]bool{}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.Kind != w.Kind || string(g.Payload) != string(w.Payload) || !g.At.Equal(w.At) {
			t.Fatalf("record %d = %+v, want %+v", i, g, w)
		}
		if seen[g.ID] {
			t.Fatalf("ID %s twice", g.ID)
		}
		seen[g.ID] = true
	}
	if s.Len() != 0 {
		t.Fatalf("Len after replay = %d", s.Len())
	}
	// A fresh instance never reuses an ID.
	r, err := s.Append("x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if seen[r.ID] {
		t.Fatalf("ID %s reused by a new instance", r.ID)
	}
	// Forgotten records stay forgotten after a reopen; the new one is kept.
	s.Close()
	s = mustOpen(t, dir)
	defer s.Close()
	got = drain(t, s)
	if len(got) != 1 || got[0].ID != r.ID {
		t.Fatalf("after reopen replayed %v, want only %s", ids(got), r.ID)
	}
	// Everything forgotten: one empty segment remains.
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	if len(segs) != 1 {
		t.Fatalf("segments after drain: %v", segs)
	}
	if fi, err := os.Stat(segs[0]); err != nil || fi.Size() != 0 {
		t.Fatalf("segment after drain: %v %v", fi, err)
	}
}

func ids(rs []Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestReplayStopsAtFirstErrorAndKeepsTheRest(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	var want []string
	for i := 0; i < 10; i++ {
		r, err := s.Append("k", []byte{byte(i)})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, r.ID)
	}
	down := errors.New("database down")
	var offered []string
	n, err := s.Replay(context.Background(), func(_ context.Context, r Record) error {
		offered = append(offered, r.ID)
		if len(offered) == 5 {
			return down
		}
		return nil
	})
	if !errors.Is(err, down) || n != 4 {
		t.Fatalf("Replay = %d, %v; want 4, database down", n, err)
	}
	if s.Len() != 6 {
		t.Fatalf("Len = %d, want 6", s.Len())
	}
	s.Close()
	s = mustOpen(t, dir)
	defer s.Close()
	got := ids(drain(t, s))
	if strings.Join(got, ",") != strings.Join(want[4:], ",") {
		t.Fatalf("after the failure replayed %v, want %v", got, want[4:])
	}
}

func TestReplayHonoursContext(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	defer s.Close()
	for i := 0; i < 3; i++ {
		if _, err := s.Append("k", nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	n, err := s.Replay(ctx, func(context.Context, Record) error { cancel(); return nil })
	if n != 1 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Replay = %d, %v; want 1, context canceled", n, err)
	}
	if s.Len() != 2 {
		t.Fatalf("Len = %d, want 2", s.Len())
	}
}

// lastSegment returns the path of the newest segment file.
func lastSegment(t *testing.T, dir string) string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no segment in %s: %v", dir, err)
	}
	return segs[len(segs)-1]
}

func TestTornTailDroppedEarlierRecordsKept(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	s := mustOpen(t, src)
	var want []Record
	for i := 0; i < 3; i++ {
		r, err := s.Append("k", []byte(strings.Repeat(strconv.Itoa(i), 100)))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	s.Close()
	seg := lastSegment(t, src)
	full, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	lastLen := len(encodeFrame(want[2]))
	intact := len(full) - lastLen

	tails := map[string][]byte{}
	for cut := 1; cut < lastLen; cut++ {
		tails[fmt.Sprintf("cut %d bytes", cut)] = full[:len(full)-cut]
	}
	zeros := append(append([]byte(nil), full[:intact]...), make([]byte, 4096)...)
	tails["zeros after the last good record"] = zeros
	flipped := append([]byte(nil), full...)
	flipped[len(flipped)-1] ^= 0xff
	tails["last record's last byte wrong"] = flipped

	for name, data := range tails {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "spool")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(seg)), data, 0o600); err != nil {
				t.Fatal(err)
			}
			s := mustOpen(t, dir)
			defer s.Close()
			if s.Len() != 2 {
				t.Fatalf("Len = %d, want 2 (the torn record dropped, the two before it kept)", s.Len())
			}
			// The spool keeps working after the tear: a new record lands
			// after the two intact ones.
			extra, err := s.Append("k", []byte("after"))
			if err != nil {
				t.Fatal(err)
			}
			got := drain(t, s)
			wantIDs := []string{want[0].ID, want[1].ID, extra.ID}
			if strings.Join(ids(got), ",") != strings.Join(wantIDs, ",") {
				t.Fatalf("replayed %v, want %v", ids(got), wantIDs)
			}
			if string(got[1].Payload) != strings.Repeat("1", 100) || string(got[2].Payload) != "after" {
				t.Fatalf("payloads %q %q", got[1].Payload, got[2].Payload)
			}
		})
	}
}

func TestDamageBeforeTheTailIsAnErrorNotALoss(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	for i := 0; i < 3; i++ {
		if _, err := s.Append("k", []byte(strings.Repeat("x", 100))); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	seg := lastSegment(t, dir)
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	data[20] ^= 0xff // inside the first record's body
	if err := os.WriteFile(seg, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(dir); err == nil {
		s.Close()
		t.Fatal("Open accepted a spool damaged in its first record")
	}
	after, _ := os.ReadFile(seg)
	if len(after) != len(data) {
		t.Fatalf("Open cut a damaged spool from %d to %d bytes", len(data), len(after))
	}
}

func TestConcurrentAppendAndReplay(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	defer s.Close()
	const writers, each = 4, 100
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		appended = map[string]bool{}
	)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				r, err := s.Append("k", []byte("x"))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				appended[r.ID] = true
				mu.Unlock()
			}
		}()
	}
	var delivered []string
	fn := func(_ context.Context, r Record) error {
		delivered = append(delivered, r.ID)
		return nil
	}
	stop := make(chan struct{})
	replayed := make(chan error, 1)
	go func() {
		for {
			if _, err := s.Replay(context.Background(), fn); err != nil {
				replayed <- err
				return
			}
			select {
			case <-stop:
				replayed <- nil
				return
			default:
			}
		}
	}()
	wg.Wait()
	close(stop)
	if err := <-replayed; err != nil {
		t.Fatal(err)
	}
	delivered = append(delivered, drainIDs(t, s)...)
	if len(delivered) != writers*each {
		t.Fatalf("delivered %d records, want %d", len(delivered), writers*each)
	}
	last := 0
	for _, id := range delivered {
		if !appended[id] {
			t.Fatalf("delivered %s, never appended", id)
		}
		delete(appended, id)
		seq := seqOf(t, id)
		if seq <= last {
			t.Fatalf("delivered out of order: %d after %d", seq, last)
		}
		last = seq
	}
	if len(appended) != 0 {
		t.Fatalf("%d records appended but not delivered", len(appended))
	}
}

func drainIDs(t *testing.T, s *Spool) []string { return ids(drain(t, s)) }

func seqOf(t testing.TB, id string) int {
	t.Helper()
	i := strings.LastIndexByte(id, '-')
	n, err := strconv.Atoi(id[i+1:])
	if err != nil {
		t.Fatalf("ID %q has no sequence: %v", id, err)
	}
	return n
}

// startChild re-executes the test binary as a child in the given mode.
func startChild(t *testing.T, mode, dir, db string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SPOOL_TEST_CHILD="+mode, "SPOOL_TEST_DIR="+dir, "SPOOL_TEST_DB="+db)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(out)
}

func kill9(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v", err)
	}
}

// TestKill9MidAppend kills a child process that appends without pause, at
// varying points, several times over the same spool: every record whose
// Append returned is there, in order, once; at most one more (appended but
// not yet reported) may follow. The kill falls anywhere in Append, most
// often in its fsync; the kernel completes a one-page write(2) before the
// process dies, so the torn frames a power cut leaves are made by hand in
// TestTornTailDroppedEarlierRecordsKept.
func TestKill9MidAppend(t *testing.T) {
	dir := t.TempDir()
	var acked []string
	for round := 0; round < 6; round++ {
		cmd, out := startChild(t, "append", dir, "")
		want := 20 + round*37
		for n := 0; n < want; n++ {
			if !out.Scan() {
				t.Fatalf("child ended early: %v", out.Err())
			}
			acked = append(acked, out.Text())
		}
		kill9(t, cmd)
		// Lines printed after we stopped reading were acked too.
		for out.Scan() {
			acked = append(acked, out.Text())
		}
	}
	s := mustOpen(t, dir)
	defer s.Close()
	got := drainIDs(t, s)
	// got must be acked, in order, with at most one unreported record
	// after each round's acked ones.
	seen := map[string]bool{}
	i := 0
	extra := 0
	for _, id := range got {
		if seen[id] {
			t.Fatalf("record %s twice", id)
		}
		seen[id] = true
		if i < len(acked) && id == acked[i] {
			i++
			continue
		}
		extra++
	}
	if i != len(acked) {
		t.Fatalf("lost acknowledged records: found %d of %d in order (next missing %s)", i, len(acked), acked[i])
	}
	if extra > 6 {
		t.Fatalf("%d unacknowledged records survived 6 kills; at most one per kill is possible", extra)
	}
}

// TestKill9MidReplay kills a child while it replays into a "database" file:
// after any number of kills and a final replay, every record reached the
// database in order; a record is offered again only when the kill fell
// between its database write and the spool forgetting it, which the
// database's unique key on Record.ID absorbs.
func TestKill9MidReplay(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(t.TempDir(), "db")
	s := mustOpen(t, dir)
	var want []string
	for i := 0; i < 1000; i++ {
		r, err := s.Append("timeline", []byte(strings.Repeat("y", 200)))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, r.ID)
	}
	s.Close()
	for round := 0; round < 5; round++ {
		cmd, out := startChild(t, "replay", dir, db)
		if !out.Scan() || out.Text() != "ready" {
			t.Fatalf("child did not start: %v", out.Err())
		}
		// Let it deliver some, then kill it wherever it is.
		waitForLines(t, db, (round+1)*40)
		kill9(t, cmd)
	}
	s = mustOpen(t, dir)
	rest := drainIDs(t, s)
	s.Close()
	data, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Fields(string(data))
	rows = append(rows, rest...)
	// The database side: INSERT ... ON CONFLICT (id) DO NOTHING.
	var table []string
	inserted := map[string]bool{}
	dups := 0
	for _, id := range rows {
		if inserted[id] {
			dups++
			continue
		}
		inserted[id] = true
		table = append(table, id)
	}
	if strings.Join(table, ",") != strings.Join(want, ",") {
		t.Fatalf("database holds %d records (in this order), want the %d appended in order", len(table), len(want))
	}
	if dups > 5 {
		t.Fatalf("%d records offered twice over 5 kills; at most one per kill is possible", dups)
	}
}

// waitForLines waits until file holds at least n lines (bounded).
func waitForLines(t *testing.T, path string, n int) {
	t.Helper()
	for i := 0; i < 200000; i++ {
		data, _ := os.ReadFile(path)
		if strings.Count(string(data), "\n") >= n {
			return
		}
		syscall.Nanosleep(&syscall.Timespec{Nsec: 1e6}, nil)
	}
	t.Fatalf("child never delivered %d records", n)
}

func TestOneProcessAtATime(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	if other, err := Open(dir); err == nil {
		other.Close()
		t.Fatal("a second Open of a directory in use succeeded")
	} else if !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open: %v", err)
	}
	s.Close()
	s = mustOpen(t, dir) // free again once closed
	s.Close()
}

func TestAppendRefusesOversizedPayload(t *testing.T) {
	s := mustOpen(t, t.TempDir())
	defer s.Close()
	if _, err := s.Append("k", make([]byte, MaxPayload+1)); err == nil {
		t.Fatal("Append accepted a payload over MaxPayload")
	}
	if s.Len() != 0 {
		t.Fatalf("Len = %d after a refused Append", s.Len())
	}
}

// TestCrashDuringRotation: the spool died after starting the next segment
// and before recording it in the ack file; the old segment is fully
// acknowledged. Open must deliver nothing old and keep new records.
func TestCrashDuringRotation(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	for i := 0; i < 2; i++ {
		if _, err := s.Append("k", []byte("old")); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	seg := lastSegment(t, dir)
	fi, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	gen := uint64(1)
	if err := os.WriteFile(filepath.Join(dir, ackName), ackBytes(position{gen: gen, off: fi.Size()}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(segPath(dir, gen+1), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir)
	defer s.Close()
	if s.Len() != 0 {
		t.Fatalf("Len = %d after a crash mid-rotation, want 0", s.Len())
	}
	r, err := s.Append("k", []byte("new"))
	if err != nil {
		t.Fatal(err)
	}
	got := drain(t, s)
	if len(got) != 1 || got[0].ID != r.ID || string(got[0].Payload) != "new" {
		t.Fatalf("replayed %v, want only the new record", ids(got))
	}
	if _, err := os.Stat(seg); !os.IsNotExist(err) {
		t.Fatalf("the acknowledged old segment is still there: %v", err)
	}
}

// TestRefusedRecordIsSetAsideAndTheRestDelivered: a record the receiving
// side refuses for good (SetAside) never blocks the ones behind it: it
// goes to the set-aside file beside the spool, kept across reopens, and
// every later record is delivered in order.
func TestRefusedRecordIsSetAsideAndTheRestDelivered(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit-spool")
	s := mustOpen(t, dir)
	var want []string
	var poisoned []string
	for i := 0; i < 6; i++ {
		payload := []byte(fmt.Sprintf(`{"n":%d}`, i))
		if i == 1 || i == 4 {
			payload = []byte(fmt.Sprintf("poison %d \x00\xff", i)) // not JSON: kept in base64
		}
		r, err := s.Append("k", payload)
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 || i == 4 {
			poisoned = append(poisoned, r.ID)
		} else {
			want = append(want, r.ID)
		}
	}
	var got []string
	n, err := s.Replay(context.Background(), func(_ context.Context, r Record) error {
		if strings.HasPrefix(string(r.Payload), "poison") {
			return SetAside(fmt.Errorf("invalid byte sequence (SQLSTATE 22021)"))
		}
		got = append(got, r.ID)
		return nil
	})
	if err != nil || n != 4 || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Replay = %d, %v, delivered %v; want 4, nil, %v", n, err, got, want)
	}
	if s.Len() != 0 || s.SetAsideCount() != 2 {
		t.Fatalf("Len %d, SetAsideCount %d; want 0 and 2", s.Len(), s.SetAsideCount())
	}
	if s.SetAsidePath() != dir+".set-aside" {
		t.Fatalf("set-aside file %s, want beside the spool directory", s.SetAsidePath())
	}
	data, err := os.ReadFile(s.SetAsidePath())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 {
		t.Fatalf("set-aside file:\n%s", data)
	}
	for i, l := range lines {
		var a asideLine
		if err := json.Unmarshal([]byte(l), &a); err != nil || a.ID != poisoned[i] || !strings.Contains(a.Reason, "22021") ||
			string(a.PayloadBase64) != fmt.Sprintf("poison %d \x00\xff", 3*i+1) || a.At.IsZero() || a.SetAsideAt.IsZero() {
			t.Errorf("set-aside line %d: %s (%v)", i, l, err)
		}
	}
	// Kept across a reopen, never deleted by the spool; an operator's
	// removal is seen.
	s.Close()
	s = mustOpen(t, dir)
	defer s.Close()
	if s.SetAsideCount() != 2 || len(drain(t, s)) != 0 {
		t.Fatalf("after reopen: %d set aside", s.SetAsideCount())
	}
	if err := os.Remove(s.SetAsidePath()); err != nil {
		t.Fatal(err)
	}
	if s.SetAsideCount() != 0 {
		t.Fatalf("after the operator removed the file: %d set aside", s.SetAsideCount())
	}
}
