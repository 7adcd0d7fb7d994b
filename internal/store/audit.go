package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Entry is one line of the audit log: who ran what, where, with which
// arguments (already redacted by the caller), what was decided, who
// approved it, what came of it and how long it took.
//
// ID, At, PrevHash and Hash are set by Append. Hash is the hex SHA-256 of
// PrevHash followed by the canonical encoding of the other fields (see
// hashEntry), and PrevHash is the Hash of the entry before, "" for the
// first: changing, removing or moving any entry breaks the chain after it.
type Entry struct {
	ID       int64
	At       time.Time
	Subject  string // namespaced: slack:U024BE7LH, console:alice
	Channel  string
	Command  string
	Args     string
	Decision string
	Approver string
	Result   string
	Duration time.Duration
	Hash     string
	PrevHash string
	// Key, when set, is the entry's idempotency key (a spool record's ID):
	// appending a key already in the log writes nothing and returns the
	// entry holding it.
	Key string
	// Occurred, when set, is when the audited thing happened, if that was
	// before the entry joined the chain at At (it waited in the spool).
	Occurred time.Time
}

// hashEntry returns hex(sha256(prev || encoding)), where the encoding is a
// version tag followed by every field but the hashes, each as
// "<length>:<value>\n": no two different entries encode alike. At counts
// in microseconds, PostgreSQL's precision, so that a stored entry hashes
// as it did when it was appended.
//
// An entry with a Key is encoded as v2: the v1 fields followed by Key and
// Occurred (0 when unset), so that neither can be changed unnoticed.
func hashEntry(prev string, e Entry) string {
	h := sha256.New()
	h.Write([]byte(prev))
	fields := []string{
		strconv.FormatInt(e.ID, 10),
		strconv.FormatInt(e.At.UnixMicro(), 10),
		e.Subject, e.Channel, e.Command, e.Args, e.Decision, e.Approver, e.Result,
		strconv.FormatInt(int64(e.Duration), 10),
	}
	if e.Key == "" {
		h.Write([]byte("shiftwise-audit-v1\n"))
	} else {
		var occurred int64
		if !e.Occurred.IsZero() {
			occurred = e.Occurred.UnixMicro()
		}
		h.Write([]byte("shiftwise-audit-v2\n"))
		fields = append(fields, e.Key, strconv.FormatInt(occurred, 10))
	}
	for _, f := range fields {
		h.Write([]byte(strconv.Itoa(len(f))))
		h.Write([]byte{':'})
		h.Write([]byte(f))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Append adds e to the end of the log and returns it with ID, At, PrevHash
// and Hash set (the ones e carries are ignored). Appenders in any number of
// processes form one linear chain: each append locks the chain head row
// for the length of its transaction, and IDs are contiguous. An entry whose
// Key is already in the log is not written again: Append returns the
// stored one.
func (s *Store) Append(ctx context.Context, e Entry) (Entry, error) {
	e.makeStorable()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return Entry{}, fmt.Errorf("audit append: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	var lastID int64
	var head string
	if err := tx.QueryRow(ctx, `SELECT last_id, hash FROM audit_head WHERE singleton FOR UPDATE`).Scan(&lastID, &head); err != nil {
		return Entry{}, fmt.Errorf("audit append: lock the chain head: %w", err)
	}
	e.ID = lastID + 1
	e.At = time.Now().UTC().Truncate(time.Microsecond) // taken under the lock: At follows ID
	var key *string
	var occurred *time.Time
	if e.Key != "" {
		key = &e.Key
		if !e.Occurred.IsZero() {
			e.Occurred = e.Occurred.UTC().Truncate(time.Microsecond)
			occurred = &e.Occurred
		}
	} else {
		e.Occurred = time.Time{} // only keyed (v2) entries carry it
	}
	e.PrevHash = head
	e.Hash = hashEntry(head, e)
	tag, err := tx.Exec(ctx, `INSERT INTO audit_log
		(id, at, subject, channel, command, args, decision, approver, result, duration_ns, prev_hash, hash, entry_key, occurred_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (entry_key) DO NOTHING`,
		e.ID, e.At, e.Subject, e.Channel, e.Command, e.Args, e.Decision, e.Approver, e.Result,
		int64(e.Duration), e.PrevHash, e.Hash, key, occurred)
	if err != nil {
		return Entry{}, fmt.Errorf("audit append: insert entry %d: %w", e.ID, classify(err))
	}
	if tag.RowsAffected() == 0 {
		// Written before (a replay after a crash): the chain stays as it is.
		old, err := scanEntry(tx.QueryRow(ctx, `SELECT `+entryColumns+` FROM audit_log WHERE entry_key = $1`, e.Key))
		if err != nil {
			return Entry{}, fmt.Errorf("audit append: read the entry already holding key %s: %w", e.Key, err)
		}
		return old, nil
	}
	if _, err := tx.Exec(ctx, `UPDATE audit_head SET last_id = $1, hash = $2 WHERE singleton`, e.ID, e.Hash); err != nil {
		return Entry{}, fmt.Errorf("audit append: move the chain head: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return Entry{}, fmt.Errorf("audit append: commit entry %d: %w", e.ID, classify(err))
	}
	return e, nil
}

// Filter selects audit entries. Zero fields select everything.
type Filter struct {
	Subject string    // only this subject's entries
	Since   time.Time // only entries that happened at or after this time
	Before  int64     // only entries with an ID below this one (the next page)
	Limit   int       // at most this many (DefaultLimit when <= 0, MaxLimit at most)
}

// Limits of Entries.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

const entryColumns = `id, at, subject, channel, command, args, decision, approver, result, duration_ns, prev_hash, hash, coalesce(entry_key, ''), occurred_at`

func scanEntry(row pgx.Row) (Entry, error) {
	var e Entry
	var d int64
	var occurred *time.Time
	err := row.Scan(&e.ID, &e.At, &e.Subject, &e.Channel, &e.Command, &e.Args, &e.Decision,
		&e.Approver, &e.Result, &d, &e.PrevHash, &e.Hash, &e.Key, &occurred)
	e.At = e.At.UTC()
	if occurred != nil {
		e.Occurred = occurred.UTC()
	}
	e.Duration = time.Duration(d)
	return e, err
}

// Entries returns the entries f selects, newest first.
func (s *Store) Entries(ctx context.Context, f Filter) ([]Entry, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	rows, err := s.pool.Query(ctx, `SELECT `+entryColumns+` FROM audit_log
		WHERE ($1 = '' OR subject = $1) AND coalesce(occurred_at, at) >= $2 AND ($4 <= 0 OR id < $4)
		ORDER BY id DESC LIMIT $3`, indexed(f.Subject), f.Since, limit, f.Before)
	if err != nil {
		return nil, fmt.Errorf("audit entries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) { return scanEntry(r) })
	if err != nil {
		return nil, fmt.Errorf("audit entries: %w", err)
	}
	return out, nil
}

// Verification is what Verify found.
type Verification struct {
	Entries  int      // entries read
	LastID   int64    // the last entry's ID (0 for an empty log)
	Head     string   // the recomputed hash of the last entry ("" for an empty log)
	Problems []string // empty when the chain is intact; each names the entry ID
	// Uncovered counts the entries after the Digest given to VerifyDigest:
	// the chain links them, but no digest outside the database vouches
	// for them (appended by another process, or after the digest was
	// written).
	Uncovered int64
}

// Digest is a point of the chain kept outside the database: an entry's ID
// and its hash, written after every append (see VerifyDigest).
type Digest struct {
	ID   int64
	Hash string
}

// OK reports whether Verify found nothing wrong.
func (v Verification) OK() bool { return len(v.Problems) == 0 }

// maxProblems bounds the list of problems: a broken log can have as many as entries.
const maxProblems = 100

// Verify recomputes the chain in ID order from one consistent snapshot and
// lists what does not hold:
//   - an entry whose stored hash is not the hash of its fields: edited;
//   - a gap in the IDs, or a PrevHash that is not the Hash before: deleted
//     (or, with a hash mismatch too, moved) entries;
//   - a chain head row that names another last entry: entries deleted at the end;
//   - with expectedHead (the running digest kept outside the database, e.g.
//     in the bot's log and the audit channel) set, a recomputed head that
//     differs from it: the log was rewritten wholesale, or the digest is
//     older than the log; Verify says which entry it matches, if any.
//
// A hash error is reported against the entry itself and the link to the
// next is checked against the stored hash, so one edit is one problem.
func (s *Store) Verify(ctx context.Context, expectedHead string) (Verification, error) {
	return s.verify(ctx, expectedHead, Digest{})
}

// VerifyDigest is Verify against a digest kept outside the database that
// names its entry: the recomputed hash of entry d.ID must be d.Hash. A log
// rewritten wholesale, or rewritten up to that entry, or cut short before
// it, is a problem; entries after it are counted in Uncovered.
func (s *Store) VerifyDigest(ctx context.Context, d Digest) (Verification, error) {
	if d.ID <= 0 || d.Hash == "" {
		return Verification{}, errors.New("audit verify: the digest names no entry")
	}
	return s.verify(ctx, "", d)
}

func (s *Store) verify(ctx context.Context, expectedHead string, d Digest) (Verification, error) {
	var v Verification
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return v, fmt.Errorf("audit verify: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	var headID int64
	var headHash string
	if err := tx.QueryRow(ctx, `SELECT last_id, hash FROM audit_head WHERE singleton`).Scan(&headID, &headHash); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			v.Problems = append(v.Problems, "the chain head row is missing")
		} else {
			return v, fmt.Errorf("audit verify: read the chain head: %w", err)
		}
	}
	rows, err := tx.Query(ctx, `SELECT `+entryColumns+` FROM audit_log ORDER BY id`)
	if err != nil {
		return v, fmt.Errorf("audit verify: %w", err)
	}
	defer rows.Close()
	problem := func(format string, args ...any) {
		if len(v.Problems) < maxProblems {
			v.Problems = append(v.Problems, fmt.Sprintf(format, args...))
		} else if len(v.Problems) == maxProblems {
			v.Problems = append(v.Problems, "more problems not listed")
		}
	}
	var prevID int64
	prevHash := ""
	seen := map[string]int64{} // recomputed hash -> entry ID, to place an old digest
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return v, fmt.Errorf("audit verify: read entry: %w", err)
		}
		v.Entries++
		switch {
		case e.ID <= prevID:
			problem("entry %d: out of order after entry %d", e.ID, prevID)
		case e.ID == prevID+2:
			problem("entry %d: entry %d before it is missing (deleted)", e.ID, prevID+1)
		case e.ID > prevID+2:
			problem("entry %d: entries %d to %d before it are missing (deleted)", e.ID, prevID+1, e.ID-1)
		}
		if e.PrevHash != prevHash {
			if prevID == 0 && e.ID == 1 {
				problem("entry %d: previous hash is %q, the first entry's must be empty", e.ID, short(e.PrevHash))
			} else {
				problem("entry %d: previous hash %s does not match entry %d's hash %s (an entry between them was deleted, moved or replaced)",
					e.ID, short(e.PrevHash), prevID, short(prevHash))
			}
		}
		want := hashEntry(e.PrevHash, e)
		if want != e.Hash {
			problem("entry %d: stored hash %s is not the hash of its content %s (the entry was edited or moved)",
				e.ID, short(e.Hash), short(want))
		}
		v.Head = want
		seen[want] = e.ID
		if d.ID != 0 && e.ID == d.ID && want != d.Hash {
			problem("entry %d: its recomputed hash %s is not %s, the digest kept outside the database: the log was rewritten up to this entry, or this entry replaced",
				e.ID, short(want), short(d.Hash))
		}
		prevID, prevHash = e.ID, e.Hash
	}
	if err := rows.Err(); err != nil {
		return v, fmt.Errorf("audit verify: %w", err)
	}
	if headID != prevID {
		if headID > prevID {
			problem("entry %d: the chain head names entry %d as the last: entries after %d are missing (deleted)", prevID+1, headID, prevID)
		} else {
			problem("entry %d: the chain head names entry %d as the last: entries were added without moving the head", prevID, headID)
		}
	} else if headHash != prevHash {
		problem("entry %d: the chain head's hash %s differs from the last entry's %s", prevID, short(headHash), short(prevHash))
	}
	v.LastID = prevID
	if d.ID != 0 {
		if prevID < d.ID {
			problem("entry %d: the digest kept outside the database names entry %d, but the log ends at entry %d: entries were deleted at the end, or the log rewritten",
				prevID+1, d.ID, prevID)
		} else {
			v.Uncovered = prevID - d.ID
		}
	}
	if expectedHead != "" && expectedHead != v.Head {
		if id, ok := seen[expectedHead]; ok {
			problem("entry %d: the expected head %s is this entry's hash, but the log goes on to entry %d: the digest is older than the log, or the entries after %d were rewritten",
				id, short(expectedHead), prevID, id)
		} else {
			problem("entry %d: the recomputed head %s is not the expected head %s, which is no entry's hash: the whole log was rewritten (or its last entries deleted)",
				prevID, short(v.Head), short(expectedHead))
		}
	}
	return v, nil
}

// short shortens a hash for a problem's sentence.
func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
