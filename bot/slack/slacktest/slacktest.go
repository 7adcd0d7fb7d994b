// Package slacktest is a fake of Slack's Socket Mode and Web API, written from
// Slack's documented protocol, for testing code that uses slack-go.
//
// A test starts one Server and points a slack-go client at it:
//
//	s := slacktest.New(t)
//	api := slack.New(s.BotToken(), slack.OptionAppLevelToken(s.AppToken()), slack.OptionAPIURL(s.APIURL()))
//	client := socketmode.New(api)
//	go client.RunContext(ctx)
//	if err := s.WaitConnected(1, 5*time.Second); err != nil { t.Fatal(err) }
//	env := s.SlashCommand(slacktest.SlashCommand{User: "U1", Channel: "C1", Text: "health"})
//	ack, err := s.WaitAck(env, 3*time.Second)
//
// # Socket Mode
//
// apps.connections.open (POST, Authorization: Bearer xapp-…) answers a one-use
// ws:// URL on 127.0.0.1. Any Origin is accepted. The first frame on every
// connection is hello; then the fake sends a WebSocket ping every ping interval
// (default 10 s; slack-go reconnects when it sees none for 30 s). Envelopes carry
// Slack's field names with integers as JSON integers: envelope_id, type,
// accepts_response_payload, payload, and for events_api retry_attempt and
// retry_reason. Each envelope goes to one live connection, round robin; a
// connection that was sent a disconnect no longer gets envelopes. With
// WithMaxConnections (default 10, Slack's limit) connections live,
// apps.connections.open answers too_many_websockets.
//
// An ack is {"envelope_id":…} with an optional "payload". Acks of 20 KiB or
// more are refused: the fake logs an error and closes that connection (Slack
// drops them). An ack may arrive on any connection. The ack payload of a
// slash command is posted like a response_url message (ephemeral unless
// "response_type":"in_channel").
//
// Unacked events_api envelopes come again after the redeliver interval (default
// 3 s) with a new envelope_id, the same payload (same event_id), retry_attempt+1
// and retry_reason "timeout", up to 3 retries. slash_commands and interactive
// envelopes are never redelivered; sent while no connection is live they are
// lost, as with Slack ("dispatch_failed").
//
// # Web API
//
// Methods live under APIURL(). The token is read from Authorization: Bearer or
// from the token form field (JSON bodies need the header, as with Slack).
// Missing token: not_authed; unknown token: invalid_auth; the app token on a
// bot method or the bot token on apps.connections.open: not_allowed_token_type.
// Unknown methods answer unknown_method. Every call is recorded (Calls).
//
// Supported: auth.test, apps.connections.open, chat.postMessage, chat.update,
// chat.postEphemeral, chat.delete, conversations.create, conversations.invite,
// conversations.info, conversations.archive, users.info, usergroups.users.list,
// files.getUploadURLExternal, the POST to its upload_url (recorded as method
// "upload"), files.completeUploadExternal, and response_url POSTs (recorded as
// method "response_url").
//
// Channels and users must exist, as in Slack: they are created by AddChannel,
// AddUser, conversations.create, or by appearing in an envelope sent with
// SlashCommand, Mention or BlockAction. A user ID given as a chat.postMessage
// channel posts to that user's DM channel, whose messages Messages(userID) also
// returns.
//
// Slack's message limits are checked and every breach is recorded (Violations):
// more than 50 blocks, section text over 3,000 characters, section fields over
// 10 or over 2,000 characters, header text over 150, button text over 75,
// button value over 2,000, action_id or block_id over 255, duplicate block_id,
// more than 25 actions elements: each of these also fails the call with
// invalid_blocks, as Slack does. Message text over 40,000 characters is
// truncated to 40,000 (Slack truncates) and an actions block without block_id
// is accepted (Slack invents one): both are recorded without failing.
// chat.postMessage is never rate limited by itself (Slack allows bursts); only
// RateLimit makes a method answer HTTP 429.
//
// A slash command's response_url and a button press's response_url take JSON
// messages: a new message, ephemeral unless "response_type":"in_channel"; for a
// button press "replace_original" or "delete_original" act on the message that
// holds the button. Each response_url may be used 5 times.
//
// # slack-go v0.35.0 behaviour worth knowing
//
//   - socketmode never acks on its own: call Ack/AckCtx for every envelope.
//   - A disconnect is no event: slack-go reconnects and emits a second
//     EventTypeConnected. Its acks go out on whichever connection is current,
//     so the fake takes an ack on any connection.
//   - A frame whose integers are strings is dropped (EventTypeErrorBadMessage).
//   - A block action is routed (InteractionCallback.ActionCallback.BlockActions,
//     SocketmodeHandler.HandleInteractionBlockAction) only when its block_id is
//     a JSON string; otherwise it lands in AttachmentActions.
//   - invalid_auth from apps.connections.open ends RunContext with that error;
//     not_allowed_token_type (a bot token used as the app token) does not: the
//     client retries with backoff up to 5 minutes. Check token prefixes at start.
//   - Ack refuses payloads of 20,480 bytes or more itself, with an error.
//   - UploadFileV2 is now UploadFile/UploadFileContext, and it sends the token
//     to the upload_url only when it has the API URL's scheme and host: the
//     fake's upload_url does.
//   - RateLimitedError.RetryAfter comes from Retry-After in whole seconds.
package slacktest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Identity of the fake workspace and app.
const (
	TeamID     = "T0TEST"
	TeamDomain = "shiftwise-test"
	AppID      = "A0TEST"
	BotID      = "B0TEST"

	// verificationToken is the deprecated verification token Slack still puts
	// in payloads.
	verificationToken = "fake-verification-token"

	maxRetries     = 3
	maxAckBytes    = 20 * 1024
	maxLogLines    = 200
	closeGrace     = 500 * time.Millisecond
	ticketLifetime = 30 * time.Second
)

type config struct {
	redeliverAfter time.Duration
	pingInterval   time.Duration
	botUserID      string
	botUserName    string
	appToken       string
	botToken       string
	maxConns       int
}

// Option configures a Server.
type Option func(*config)

// WithRedeliverAfter sets how long an events_api envelope may stay unacked
// before it is sent again (default 3 s, Slack's ack deadline).
func WithRedeliverAfter(d time.Duration) Option { return func(c *config) { c.redeliverAfter = d } }

// WithPingInterval sets how often WebSocket pings are sent (default 10 s). It
// must be under 30 s, slack-go's default dead-connection limit.
func WithPingInterval(d time.Duration) Option { return func(c *config) { c.pingInterval = d } }

// WithBotUserID sets the bot's user ID (default "UBOT").
func WithBotUserID(id string) Option { return func(c *config) { c.botUserID = id } }

// WithAppToken sets the app-level token (default "xapp-1-TEST").
func WithAppToken(tok string) Option { return func(c *config) { c.appToken = tok } }

// WithBotToken sets the bot token (default "xoxb-TEST").
func WithBotToken(tok string) Option { return func(c *config) { c.botToken = tok } }

// WithMaxConnections sets how many Socket Mode connections may be open at once
// (default 10, Slack's limit).
func WithMaxConnections(n int) Option { return func(c *config) { c.maxConns = n } }

// Server is the fake. All methods are safe for concurrent use.
type Server struct {
	t   testing.TB
	cfg config
	srv *httptest.Server

	wg   sync.WaitGroup // connection, timer and scheduler goroutines
	done chan struct{}  // closed by Close

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every state change
	closed   bool
	finished bool // Close has returned: nothing may log through t any more
	logs     int

	// Socket Mode
	conns   []*wsConn
	connSeq int
	rr      int
	opens   int
	tickets map[string]time.Time
	envs    map[string]*envState // by envelope_id
	order   []*envState          // every envelope sent, in order
	pending map[string]*envState // events_api envelopes waiting for an ack
	acks    []Ack

	// Web API
	calls      map[string][]Call
	rateLimits map[string]*injected
	fails      map[string]*injected
	seq        int64                // ts and ID counter
	msgs       []*msgState          // in post order
	msgIndex   map[string]*msgState // channel+"/"+ts
	channels   map[string]*channel
	users      map[string]*User
	groups     map[string][]string
	dms        map[string]string // user ID -> DM channel ID
	uploads    map[string]*File  // by upload secret
	fileByID   map[string]*File
	files      []File
	responses  map[string]*responseURL
	violations []string
}

type injected struct {
	times      int
	retryAfter time.Duration
	err        string
}

// New starts a fake on 127.0.0.1, closed in t.Cleanup.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	cfg := config{
		redeliverAfter: 3 * time.Second,
		pingInterval:   10 * time.Second,
		botUserID:      "UBOT",
		botUserName:    "shiftwise",
		appToken:       "xapp-1-TEST",
		botToken:       "xoxb-TEST",
		maxConns:       10,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.pingInterval <= 0 || cfg.pingInterval >= 30*time.Second {
		t.Fatalf("slacktest: ping interval %v must be above 0 and under 30s", cfg.pingInterval)
	}
	if cfg.redeliverAfter <= 0 {
		t.Fatalf("slacktest: redeliver interval %v must be above 0", cfg.redeliverAfter)
	}
	if cfg.maxConns <= 0 {
		t.Fatalf("slacktest: max connections %d must be above 0", cfg.maxConns)
	}
	s := &Server{
		t:          t,
		cfg:        cfg,
		done:       make(chan struct{}),
		changed:    make(chan struct{}),
		tickets:    map[string]time.Time{},
		envs:       map[string]*envState{},
		pending:    map[string]*envState{},
		calls:      map[string][]Call{},
		rateLimits: map[string]*injected{},
		fails:      map[string]*injected{},
		msgIndex:   map[string]*msgState{},
		channels:   map[string]*channel{},
		users:      map[string]*User{},
		groups:     map[string][]string{},
		dms:        map[string]string{},
		uploads:    map[string]*File{},
		fileByID:   map[string]*File{},
		responses:  map[string]*responseURL{},
	}
	s.users[cfg.botUserID] = &User{ID: cfg.botUserID, Name: cfg.botUserName, RealName: "ShiftWise", IsBot: true}

	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.handleAPI)
	mux.HandleFunc("/link", s.handleLink)
	mux.HandleFunc("/upload/v1/", s.handleUpload)
	mux.HandleFunc("/response/", s.handleResponseURL)
	s.srv = httptest.NewServer(mux) // binds 127.0.0.1
	s.wg.Go(s.redeliverLoop)
	t.Cleanup(s.Close)
	return s
}

// Close stops the fake: it closes every connection, stops redelivery and waits
// for its goroutines. It is called by t.Cleanup; calling it earlier is fine.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	conns := append([]*wsConn(nil), s.conns...)
	s.notifyLocked()
	s.mu.Unlock()
	close(s.done)
	for _, c := range conns {
		c.close()
	}
	s.srv.Close()
	s.wg.Wait()
	s.mu.Lock()
	s.finished = true
	s.mu.Unlock()
}

// APIURL is the Web API base URL with a trailing slash, for slack.OptionAPIURL.
func (s *Server) APIURL() string { return s.srv.URL + "/api/" }

// AppToken is the app-level token (xapp-) that opens Socket Mode connections.
func (s *Server) AppToken() string { return s.cfg.appToken }

// BotToken is the bot token (xoxb-) for Web API methods.
func (s *Server) BotToken() string { return s.cfg.botToken }

// BotUserID is the bot's user ID, as auth.test reports it and mentions use it.
func (s *Server) BotUserID() string { return s.cfg.botUserID }

// Violations lists every breach of Slack's limits seen so far, one sentence
// each, in order.
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

func (s *Server) violateLocked(format string, args ...any) {
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
	s.notifyLocked()
}

// logf logs through the test, bounded so that a flood cannot fill the output.
// It must not be called with s.mu held.
func (s *Server) logf(format string, args ...any) {
	s.mu.Lock()
	s.logs++
	n, finished := s.logs, s.finished
	s.mu.Unlock()
	if finished {
		return
	}
	switch {
	case n < maxLogLines:
		s.t.Logf("slacktest: "+format, args...)
	case n == maxLogLines:
		s.t.Logf("slacktest: further log lines suppressed")
	}
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitFor waits until cond (called with s.mu held) is true or the timeout ends.
func (s *Server) waitFor(timeout time.Duration, cond func() bool) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		ok := cond()
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-timer.C:
			s.mu.Lock()
			ok = cond()
			s.mu.Unlock()
			return ok
		}
	}
}

var errTimeout = errors.New("slacktest: timed out")

// nextSeqLocked returns the next value of the counter behind timestamps and IDs.
func (s *Server) nextSeqLocked() int64 {
	s.seq++
	return s.seq
}

// nextTSLocked returns a new message timestamp, "1700000000.000100" style,
// strictly increasing.
func (s *Server) nextTSLocked() string {
	micros := s.nextSeqLocked() * 100
	return fmt.Sprintf("%d.%06d", 1700000000+micros/1000000, micros%1000000)
}

func (s *Server) nextIDLocked(prefix string) string {
	return fmt.Sprintf("%s%08d", prefix, s.nextSeqLocked())
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newEnvelopeID returns a UUID-shaped ID, as Slack's envelope IDs are.
func newEnvelopeID() string {
	h := randomHex(16)
	return strings.Join([]string{h[0:8], h[8:12], h[12:16], h[16:20], h[20:32]}, "-")
}
