package store

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func entry(i int) Entry {
	return Entry{
		Subject: fmt.Sprintf("slack:U%03d", i%3), Channel: "C-ops", Command: "restart",
		Args: fmt.Sprintf("api #%d", i), Decision: "allowed", Result: "PASSED",
		Duration: time.Duration(i) * time.Millisecond,
	}
}

// appendN appends n entries and returns them in ID order.
func appendN(t *testing.T, s *Store, n int) []Entry {
	t.Helper()
	var out []Entry
	for i := range n {
		e, err := s.Append(ctxFor(t), entry(i))
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		out = append(out, e)
	}
	return out
}

func verify(t *testing.T, s *Store, expectedHead string) Verification {
	t.Helper()
	v, err := s.Verify(ctxFor(t), expectedHead)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return v
}

// wantProblem fails unless some problem names entry id and contains every word.
func wantProblem(t *testing.T, v Verification, id int64, words ...string) {
	t.Helper()
	t.Logf("problems: %q", v.Problems)
	prefix := fmt.Sprintf("entry %d:", id)
Problems:
	for _, p := range v.Problems {
		if !strings.HasPrefix(p, prefix) {
			continue
		}
		for _, w := range words {
			if !strings.Contains(p, w) {
				continue Problems
			}
		}
		return
	}
	t.Errorf("no problem on entry %d saying %q; problems: %q", id, words, v.Problems)
}

func TestAppendAndEntries(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	empty := verify(t, s, "")
	if !empty.OK() || empty.Entries != 0 || empty.Head != "" {
		t.Fatalf("empty log: %+v", empty)
	}
	before := time.Now().Add(-time.Second)
	got := appendN(t, s, 6)
	for i, e := range got {
		if e.ID != int64(i+1) {
			t.Errorf("entry %d: ID %d", i, e.ID)
		}
		if e.At.Before(before) || e.At.After(time.Now().Add(time.Second)) {
			t.Errorf("entry %d: At %v", e.ID, e.At)
		}
		wantPrev := ""
		if i > 0 {
			wantPrev = got[i-1].Hash
		}
		if e.PrevHash != wantPrev || len(e.Hash) != 64 || e.Hash != hashEntry(e.PrevHash, e) {
			t.Errorf("entry %d: prev %q hash %q", e.ID, e.PrevHash, e.Hash)
		}
	}
	all, err := s.Entries(ctxFor(t), Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 6 {
		t.Fatalf("Entries: %d, want 6", len(all))
	}
	for i, e := range all { // newest first, as appended
		want := got[len(got)-1-i]
		if e != want {
			t.Errorf("Entries[%d] = %+v, want %+v", i, e, want)
		}
	}
	mine, err := s.Entries(ctxFor(t), Filter{Subject: "slack:U001", Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(mine) != 1 || mine[0].ID != 5 { // entries 2 and 5 are U001's
		t.Errorf("Entries(U001, limit 1) = %+v, want entry 5", mine)
	}
	exec(t, s, `UPDATE audit_log SET at = at - interval '2 hours' WHERE id <= 3`)
	recent, err := s.Entries(ctxFor(t), Filter{Since: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(recent) != 3 || recent[0].ID != 6 || recent[2].ID != 4 {
		t.Errorf("Entries(since an hour ago) = %d entries, want 6, 5, 4", len(recent))
	}
	v := verify(t, s, got[5].Hash)
	if v.OK() { // the UPDATE of at was an edit
		t.Error("Verify missed edited times")
	}
	wantProblem(t, v, 1, "edited")
}

// Three bots appending at once form one chain.
func TestAppendConcurrentStoresOneChain(t *testing.T) {
	t.Parallel()
	dbURL := newDatabase(t)
	stores := []*Store{openStore(t, dbURL), openStore(t, dbURL), openStore(t, dbURL)}
	const perStore = 50
	var wg sync.WaitGroup
	errs := make(chan error, len(stores)*perStore)
	start := make(chan struct{})
	for si, s := range stores {
		for i := range perStore {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if _, err := s.Append(ctxFor(t), entry(si*perStore+i)); err != nil {
					errs <- err
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	v := verify(t, stores[1], "")
	if !v.OK() || v.Entries != 150 {
		t.Fatalf("Verify: %d entries, problems %q", v.Entries, v.Problems)
	}
	all, err := stores[2].Entries(ctxFor(t), Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 150 {
		t.Fatalf("%d entries, want 150", len(all))
	}
	seen := map[string]bool{}
	for i, e := range all {
		if want := int64(150 - i); e.ID != want {
			t.Fatalf("IDs not contiguous: position %d holds %d, want %d", i, e.ID, want)
		}
		if i+1 < len(all) && e.PrevHash != all[i+1].Hash {
			t.Errorf("entry %d does not follow entry %d", e.ID, all[i+1].ID)
		}
		seen[e.Args] = true
	}
	if len(seen) != 150 {
		t.Errorf("%d distinct entries, want 150", len(seen))
	}
	if v.Head != all[0].Hash {
		t.Errorf("Verify head %s, last entry's hash %s", v.Head, all[0].Hash)
	}
}

func TestVerifyFindsEditedRow(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	got := appendN(t, s, 10)
	if v := verify(t, s, got[9].Hash); !v.OK() || v.Entries != 10 || v.Head != got[9].Hash {
		t.Fatalf("before tampering: %+v", v)
	}
	exec(t, s, `UPDATE audit_log SET result = 'FAILED' WHERE id = 5`)
	v := verify(t, s, got[9].Hash)
	wantProblem(t, v, 5, "edited")
	if len(v.Problems) != 1 {
		t.Errorf("one edit, problems %q", v.Problems)
	}
}

func TestVerifyFindsDeletedRow(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	got := appendN(t, s, 10)
	exec(t, s, `DELETE FROM audit_log WHERE id = 5`)
	v := verify(t, s, got[9].Hash)
	wantProblem(t, v, 6, "entry 5", "missing")
	wantProblem(t, v, 6, "previous hash")
	if v.Entries != 9 {
		t.Errorf("Entries %d, want 9", v.Entries)
	}
}

func TestVerifyFindsDeletedLastRow(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	got := appendN(t, s, 10)
	exec(t, s, `DELETE FROM audit_log WHERE id = 10`)
	v := verify(t, s, "")
	wantProblem(t, v, 10, "missing")
	v = verify(t, s, got[9].Hash)
	wantProblem(t, v, 9, "expected head")
}

func TestVerifyFindsSwappedRows(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	got := appendN(t, s, 10)
	exec(t, s, `UPDATE audit_log SET id = -4 WHERE id = 4`)
	exec(t, s, `UPDATE audit_log SET id = 4 WHERE id = 5`)
	exec(t, s, `UPDATE audit_log SET id = 5 WHERE id = -4`)
	v := verify(t, s, got[9].Hash)
	wantProblem(t, v, 4, "moved")
	wantProblem(t, v, 5, "moved")
	if v.Entries != 10 {
		t.Errorf("Entries %d, want 10", v.Entries)
	}
}

// A rewrite with every hash recomputed is a clean chain: only the digest
// kept outside the database tells.
func TestVerifyFindsRewrittenLog(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	got := appendN(t, s, 10)
	head := got[9].Hash
	prev := ""
	for _, e := range got {
		e.Result = "nothing happened"
		e.PrevHash = prev
		e.Hash = hashEntry(prev, e)
		exec(t, s, `UPDATE audit_log SET result = $2, prev_hash = $3, hash = $4 WHERE id = $1`, e.ID, e.Result, e.PrevHash, e.Hash)
		prev = e.Hash
	}
	exec(t, s, `UPDATE audit_head SET hash = $1`, prev)
	if v := verify(t, s, ""); !v.OK() || v.Head != prev {
		t.Fatalf("a consistent rewrite without a digest: %+v (the chain alone cannot tell)", v)
	}
	v := verify(t, s, head)
	wantProblem(t, v, 10, "whole log was rewritten")
	if len(v.Problems) != 1 {
		t.Errorf("problems %q", v.Problems)
	}
	if now := verify(t, s, prev); !now.OK() {
		t.Errorf("with the rewritten log's own head as digest: %q", now.Problems)
	}
}

func TestVerifyPlacesAnOlderDigest(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	got := appendN(t, s, 5)
	v := verify(t, s, got[2].Hash)
	wantProblem(t, v, 3, "older than the log")
}

func TestHashEncodingIsUnambiguous(t *testing.T) {
	a := Entry{ID: 1, Subject: "ab", Channel: "c"}
	b := Entry{ID: 1, Subject: "a", Channel: "bc"}
	if hashEntry("", a) == hashEntry("", b) {
		t.Error("fields shifted between neighbours hash alike")
	}
	c := a
	c.At = time.Unix(0, 1000)
	if hashEntry("", a) == hashEntry("", c) {
		t.Error("At is not hashed")
	}
	if hashEntry("", a) == hashEntry("x", a) {
		t.Error("PrevHash is not hashed")
	}
}

func TestAppendWithKeyIsWrittenOnce(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	appendN(t, s, 2)
	e := entry(7)
	e.Key = "0123abcd-1"
	e.Occurred = time.Now().Add(-time.Hour)
	first, err := s.Append(ctxFor(t), e)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Append(ctxFor(t), e)
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID || again.Hash != first.Hash || again.Key != e.Key {
		t.Fatalf("second append of key %s = %+v, want the stored %+v", e.Key, again, first)
	}
	if !first.Occurred.Equal(e.Occurred.Truncate(time.Microsecond)) || !again.Occurred.Equal(first.Occurred) {
		t.Fatalf("occurred %v / %v, want %v", first.Occurred, again.Occurred, e.Occurred)
	}
	next, err := s.Append(ctxFor(t), entry(8))
	if err != nil {
		t.Fatal(err)
	}
	if next.ID != first.ID+1 {
		t.Fatalf("the duplicate moved the chain: next ID %d after %d", next.ID, first.ID)
	}
	if v := verify(t, s, next.Hash); !v.OK() || v.Entries != 4 {
		t.Fatalf("verify: %+v", v)
	}
	// The key and the time it happened are part of the hash.
	exec(t, s, `UPDATE audit_log SET occurred_at = occurred_at + interval '1 minute' WHERE id = $1`, first.ID)
	wantProblem(t, verify(t, s, ""), first.ID, "edited")
	exec(t, s, `UPDATE audit_log SET occurred_at = occurred_at - interval '1 minute', entry_key = 'other' WHERE id = $1`, first.ID)
	wantProblem(t, verify(t, s, ""), first.ID, "edited")
}

func TestEntriesSinceUsesWhenItHappenedAndPages(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	old := entry(1)
	old.Key, old.Occurred = "k-old", time.Now().Add(-48*time.Hour)
	if _, err := s.Append(ctxFor(t), old); err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 5)
	recent, err := s.Entries(ctxFor(t), Filter{Since: time.Now().Add(-24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(recent) != 5 {
		t.Fatalf("entries of the last 24 h: %d, want 5 (the spooled one happened 48 h ago)", len(recent))
	}
	page, err := s.Entries(ctxFor(t), Filter{Limit: 2, Before: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 || page[0].ID != 4 || page[1].ID != 3 {
		t.Fatalf("page before 5: %+v", page)
	}
}

func TestVerifyDigest(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	got := appendN(t, s, 6)
	d := Digest{ID: got[3].ID, Hash: got[3].Hash}
	v, err := s.VerifyDigest(ctxFor(t), d)
	if err != nil {
		t.Fatal(err)
	}
	if !v.OK() || v.Uncovered != 2 || v.LastID != 6 {
		t.Fatalf("intact log, digest at 4: %+v", v)
	}
	// A consistent rewrite of the whole log.
	prev := ""
	for _, e := range got {
		e.Result = "nothing happened"
		e.PrevHash = prev
		e.Hash = hashEntry(prev, e)
		exec(t, s, `UPDATE audit_log SET result = $2, prev_hash = $3, hash = $4 WHERE id = $1`, e.ID, e.Result, e.PrevHash, e.Hash)
		prev = e.Hash
	}
	exec(t, s, `UPDATE audit_head SET hash = $1`, prev)
	v, _ = s.VerifyDigest(ctxFor(t), d)
	wantProblem(t, v, 4, "digest kept outside", "rewritten")
	// Cut short before the digest's entry, consistently.
	exec(t, s, `DELETE FROM audit_log WHERE id >= 3`)
	exec(t, s, `UPDATE audit_head SET last_id = 2, hash = (SELECT hash FROM audit_log WHERE id = 2)`)
	v, _ = s.VerifyDigest(ctxFor(t), d)
	wantProblem(t, v, 3, "names entry 4", "ends at entry 2")
}
