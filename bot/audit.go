package bot

import (
	"context"
	"time"
)

// AuditRecord is one audit log entry as the audit commands show it.
type AuditRecord struct {
	ID       int64
	At       time.Time // when it joined the log
	Occurred time.Time // when it happened, if earlier (it waited in the spool); zero otherwise
	Subject  string
	Channel  string
	Command  string
	Args     string
	Decision string
	Approver string
	Result   string
	Duration time.Duration
}

// AuditQuery selects entries, newest first.
type AuditQuery struct {
	Subject string
	Since   time.Time
	Before  int64 // only IDs below this (the next page); 0: from the newest
	Limit   int
}

// AuditReport is what verifying the log found.
type AuditReport struct {
	Entries  int
	LastID   int64
	Head     string   // the recomputed hash of the last entry
	Problems []string // empty when nothing is wrong; each names an entry
	// DigestID and Digest are the running digest kept outside the
	// database (DigestID 0: none written yet); DigestWhere says where.
	DigestID    int64
	Digest      string
	DigestWhere string
	// Uncovered counts entries after the outside digest.
	Uncovered int64
	// Pending counts entries waiting in the local spool for the database.
	Pending int
	// Spool says why they wait, and what was set aside.
	Spool AuditSpool
}

// AuditSpool is the state of the audit trail's local spool.
type AuditSpool struct {
	Pending int // entries waiting to be written to the database
	// Unreachable: the bot's database has not answered at all. Else
	// Reason is what its last attempt to take them said ("" when it
	// answers and they are being written).
	Unreachable bool
	Reason      string
	// SetAside counts entries the database refused for good (a data
	// error, not an outage): kept in SetAsideWhere for an operator, the
	// entries after them written.
	SetAside      int
	SetAsideWhere string
}

// AuditLog is the bot's audit log as the audit commands read it (the
// bot's state implements it over its database and its spool).
type AuditLog interface {
	AuditEntries(ctx context.Context, q AuditQuery) ([]AuditRecord, error)
	VerifyAudit(ctx context.Context) (AuditReport, error)
	AuditSpool() AuditSpool
}
