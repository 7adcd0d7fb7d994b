package store

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/shiftwise/shiftwise-bot/internal/storable"
)

// The store's write boundary: every text a method writes (or looks up) goes
// through storable.Text first — storable.Indexed for indexed columns — so
// that no byte PostgreSQL refuses in text ever reaches it, and the hash of
// an audit entry covers exactly what is stored.

var (
	text    = storable.Text
	indexed = storable.Indexed
)

// refusedError is a database error that trying again cannot cure; it
// keeps the driver's error and also matches storable.ErrRefused.
type refusedError struct{ err error }

func (e *refusedError) Error() string   { return e.err.Error() }
func (e *refusedError) Unwrap() []error { return []error{storable.ErrRefused, e.err} }

// classify marks err as refused for good when PostgreSQL answered with a
// data exception (class 22), an integrity violation (23: the expected
// conflicts are handled before this is called) or a program limit such as
// an index row too long (54). Connection errors, timeouts and everything
// else stay as they are: they may pass.
func classify(err error) error {
	var pe *pgconn.PgError
	if err == nil || !errors.As(err, &pe) || len(pe.Code) != 5 {
		return err
	}
	switch pe.Code[:2] {
	case "22", "23", "54":
		return &refusedError{err: err}
	}
	return err
}

func (e *Entry) makeStorable() {
	e.Subject, e.Channel, e.Command = indexed(e.Subject), text(e.Channel), text(e.Command)
	e.Args, e.Decision, e.Approver, e.Result = text(e.Args), text(e.Decision), text(e.Approver), text(e.Result)
	e.Key = text(e.Key)
}

func (i *Incident) makeStorable() {
	i.Title, i.Commander, i.OpenedBy, i.OriginChannel = text(i.Title), text(i.Commander), text(i.OpenedBy), text(i.OriginChannel)
	i.Summary = text(i.Summary)
}

func (e *TimelineEntry) makeStorable() {
	e.Key, e.Who, e.Kind, e.What = text(e.Key), text(e.Who), text(e.Kind), text(e.What)
	e.Outcome, e.Approver, e.Link = text(e.Outcome), text(e.Approver), text(e.Link)
}

func (a *Approval) makeStorable() {
	a.Command, a.Args, a.Object, a.Requester = text(a.Command), text(a.Args), text(a.Object), text(a.Requester)
	a.Channel, a.ThreadTS, a.MessageTS = text(a.Channel), text(a.ThreadTS), text(a.MessageTS)
}
