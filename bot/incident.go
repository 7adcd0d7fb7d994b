package bot

import (
	"context"
	"errors"
	"time"
)

// Incident is one incident (INC-<ID>): where it is handled, how bad it
// is, who leads it, and when it started and ended. The bot's store keeps
// it; the incident commands and the timeline use it.
type Incident struct {
	ID            int64
	State         string // opening, open, resolved
	Severity      int    // 1..4
	Title         string
	Commander     string // namespaced subject
	OpenedBy      string
	OriginChannel string // where it was started
	Channel       string // where its timeline is collected ("console" at the console)
	ThreadTS      string // "" = the whole channel; else a thread of it
	Link          string
	StartedAt     time.Time
	ResolvedAt    time.Time // zero while open
	Summary       string
}

// States of an Incident.
const (
	IncidentOpening  = "opening"
	IncidentOpen     = "open"
	IncidentResolved = "resolved"
)

// TimelineEntry is one line of an incident's timeline: who did what,
// what came of it, when, and where to see it. Key makes it idempotent:
// an entry appended twice is kept once.
type TimelineEntry struct {
	IncidentID int64
	Key        string
	At         time.Time
	Who        string
	Kind       string // opened, command, approval, note, status, escalation, commander, severity, resolved
	What       string
	Outcome    string
	Approver   string
	Link       string
}

// Why an incident store changed nothing; implementations wrap one of
// these (test with errors.Is).
var (
	ErrNoIncident       = errors.New("no such incident")
	ErrIncidentHere     = errors.New("an incident is already open here")
	ErrIncidentResolved = errors.New("the incident is already resolved")
)

// Incidents keeps incidents and their timelines. Every change is one
// conditional statement in the store, so several processes agree.
type Incidents interface {
	// ReserveIncident records i as opening (invisible to the rest) and
	// returns it with its ID.
	ReserveIncident(ctx context.Context, i Incident) (Incident, error)
	// ActivateIncident opens a reserved incident in its place;
	// ErrIncidentHere when another is open there.
	ActivateIncident(ctx context.Context, id int64, channel, thread, link string) (Incident, error)
	// DropIncident deletes a reserved incident that never opened.
	DropIncident(ctx context.Context, id int64) error
	IncidentByID(ctx context.Context, id int64) (Incident, error)
	// OpenIncidentAt is the incident open in channel or in its thread
	// (ErrNoIncident when none).
	OpenIncidentAt(ctx context.Context, channel, thread string) (Incident, error)
	OpenIncidents(ctx context.Context) ([]Incident, error)
	SetCommander(ctx context.Context, id int64, who string) (Incident, error)
	SetSeverity(ctx context.Context, id int64, sev int) (Incident, error)
	// ResolveIncident closes it once; later calls get ErrIncidentResolved.
	ResolveIncident(ctx context.Context, id int64, summary string, at time.Time) (Incident, error)
	// AppendTimelineAt adds e to the incident that held channel (or its
	// thread) at e.At, unless its Key is there already. It returns the
	// incident's ID (0: none held the place) and whether e was added.
	AppendTimelineAt(ctx context.Context, channel, thread string, e TimelineEntry) (int64, bool, error)
	// Timeline is up to limit entries from offset, by time, and the total.
	Timeline(ctx context.Context, id int64, offset, limit int) ([]TimelineEntry, int, error)
}

// ErrSpooled says a timeline entry is safe in the local spool, not yet in
// the bot's database.
var ErrSpooled = errors.New("kept in the spool until the bot's database answers")

// TimelineRecorder puts entries on the timeline of the incident open
// where they happened; the bot's state implements it, falling back on its
// local spool while its database does not answer.
type TimelineRecorder interface {
	// Record appends e to the timeline of the incident that holds channel
	// (or its thread) at e.At: nil when the database took it (or no
	// incident holds the place), an error wrapping ErrSpooled when it
	// waits in the spool, another error when it was lost.
	Record(ctx context.Context, channel, thread string, e TimelineEntry) error
	// Pending is how many entries wait in the spool.
	Pending() int
	// SetLink gives entries without a link one to where they happened
	// (the workspace's Link).
	SetLink(link func(channel, ts string) string)
}

// Workspace is what the incident commands need of a chat workspace
// (Slack): channels, invitations, posts and files. Transports that have
// no such thing (the console) offer none.
type Workspace interface {
	// CreateChannel creates a public channel and returns its ID; a name in
	// use wraps ErrNameTaken, a workspace that forbids the bot to create
	// channels wraps ErrRestricted.
	CreateChannel(ctx context.Context, name string) (string, error)
	// ArchiveChannel archives a channel the bot created (undoing a start
	// that could not be recorded).
	ArchiveChannel(ctx context.Context, channel string) error
	// Invite adds users (IDs without namespace) to a channel; those
	// already in it are no error.
	Invite(ctx context.Context, channel string, users []string) error
	// GroupMembers lists the user IDs of a user group.
	GroupMembers(ctx context.Context, group string) ([]string, error)
	// UserExists tells whether a user ID names a workspace member.
	UserExists(ctx context.Context, user string) (bool, error)
	// Person reads a person as people name one in this workspace (in
	// Slack a mention, <@U…>): their user ID and subject ("slack:U…");
	// ok is false when text names no person.
	Person(text string) (user, subject string, ok bool)
	// ChannelRef names a channel in a message's text so that it links to
	// it (in Slack <#C…>).
	ChannelRef(channel string) string
	// Post posts m in a channel (in thread when not "") and returns the
	// message's ts. notify are namespaced subjects to mention, so that
	// they are notified: "slack:U…" people, "slack-group:S…" user groups.
	Post(ctx context.Context, channel, thread string, m Message, notify ...string) (string, error)
	// Upload shares a file in a channel (in thread when not "").
	Upload(ctx context.Context, channel, thread, filename, title string, content []byte) error
	// Link is a link to a message (or to the channel when ts is "").
	Link(channel, ts string) string
}

// Errors of Workspace.CreateChannel.
var (
	ErrNameTaken  = errors.New("channel name taken")
	ErrRestricted = errors.New("the workspace does not let the bot create channels")
)
