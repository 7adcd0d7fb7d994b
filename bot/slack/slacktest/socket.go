package slacktest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Envelope is one Socket Mode envelope as the fake sent it.
type Envelope struct {
	ID                     string
	Type                   string // "slash_commands", "events_api", "interactive", or what SendRaw was given
	AcceptsResponsePayload bool
	RetryAttempt           int
	RetryReason            string
	EventID                string // events_api payload event_id, "" otherwise
	Payload                json.RawMessage
	SentAt                 time.Time
	// Conn numbers the connection it was written to, from 1; 0 means no live
	// connection took it (events_api envelopes are then redelivered later).
	Conn int
}

// String shows the envelope with its payload as text.
func (e Envelope) String() string {
	return fmt.Sprintf("{%s %s retry_attempt=%d conn=%d sent=%s payload=%s}",
		e.Type, e.ID, e.RetryAttempt, e.Conn, e.SentAt.Format("15:04:05.000"), e.Payload)
}

// Delivered reports whether the envelope was written to a connection.
func (e Envelope) Delivered() bool { return e.Conn != 0 }

// Ack is an acknowledgement received for an envelope.
type Ack struct {
	EnvelopeID string
	Payload    json.RawMessage // nil when the ack had none
	At         time.Time
	SentAt     time.Time // when the acked envelope was sent
	Conn       int       // connection the ack came on
}

// Latency is the time from sending the envelope to receiving its ack.
func (a Ack) Latency() time.Duration { return a.At.Sub(a.SentAt) }

// EnvelopeOption adjusts an envelope sent with SendRaw.
type EnvelopeOption func(*envelopeOpts)

type envelopeOpts struct {
	id          string
	accepts     *bool
	retry       *int
	retryReason string
}

// WithEnvelopeID sets the envelope_id (for example to repeat one).
func WithEnvelopeID(id string) EnvelopeOption { return func(o *envelopeOpts) { o.id = id } }

// WithAcceptsResponsePayload sets accepts_response_payload.
func WithAcceptsResponsePayload(b bool) EnvelopeOption {
	return func(o *envelopeOpts) { o.accepts = &b }
}

// WithRetry adds retry_attempt and retry_reason (events_api carries them anyway).
func WithRetry(attempt int, reason string) EnvelopeOption {
	return func(o *envelopeOpts) { o.retry = &attempt; o.retryReason = reason }
}

type envState struct {
	env         Envelope
	withRetry   bool
	acked       bool
	redelivered bool
}

type wsConn struct {
	id       int
	ws       *websocket.Conn
	writeMu  sync.Mutex
	once     sync.Once
	ready    bool // hello sent; guarded by Server.mu
	draining bool // told to disconnect or dropped; guarded by Server.mu
}

func (c *wsConn) write(frame []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	return c.ws.WriteMessage(websocket.TextMessage, frame)
}

func (c *wsConn) close() { c.once.Do(func() { _ = c.ws.Close() }) }

var upgrader = websocket.Upgrader{
	// Slack accepts the Origin slack-go sends (https://api.slack.com), and any other.
	CheckOrigin:     func(*http.Request) bool { return true },
	ReadBufferSize:  4096,
	WriteBufferSize: 32 * 1024,
}

// handleLink upgrades a ws:// URL handed out by apps.connections.open.
func (s *Server) handleLink(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	s.mu.Lock()
	exp, ok := s.tickets[ticket]
	delete(s.tickets, ticket)
	closed := s.closed
	s.mu.Unlock()
	if closed {
		http.Error(w, "closed", http.StatusServiceUnavailable)
		return
	}
	if !ok || time.Now().After(exp) {
		s.logf("refused WebSocket: unknown or expired ticket %q", ticket)
		http.Error(w, "invalid ticket", http.StatusUnauthorized)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.logf("WebSocket upgrade: %v", err)
		return
	}
	ws.SetReadLimit(1 << 20) // larger than Slack's 20 KiB, so oversized acks are seen and refused
	c := &wsConn{ws: ws}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ws.Close()
		return
	}
	s.connSeq++
	c.id = s.connSeq
	s.conns = append(s.conns, c)
	n := len(s.routableLocked()) + 1
	s.wg.Add(2)
	s.mu.Unlock()

	go s.readLoop(c, n)
	go s.pingLoop(c)
}

func (s *Server) routableLocked() []*wsConn {
	out := make([]*wsConn, 0, len(s.conns))
	for _, c := range s.conns {
		if c.ready && !c.draining {
			out = append(out, c)
		}
	}
	return out
}

func (s *Server) pingLoop(c *wsConn) {
	defer s.wg.Done()
	tick := time.NewTicker(s.cfg.pingInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-tick.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(5*time.Second)); err != nil {
				return // the read loop notices the dead connection
			}
		}
	}
}

// readLoop says hello, then reads acks until the connection ends.
func (s *Server) readLoop(c *wsConn, numConns int) {
	defer s.wg.Done()
	defer s.removeConn(c)
	hello := fmt.Sprintf(`{"type":"hello","num_connections":%d,"connection_info":{"app_id":%q},"debug_info":{"host":"fake","build_number":1,"approximate_connection_time":3600}}`, numConns, AppID)
	// The connection becomes routable while its writer is held for the
	// hello: an envelope sent meanwhile waits and follows the hello, and
	// a client that has read the hello can count on envelopes reaching it.
	c.writeMu.Lock()
	s.mu.Lock()
	c.ready = true
	s.notifyLocked()
	s.mu.Unlock()
	err := c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err == nil {
		err = c.ws.WriteMessage(websocket.TextMessage, []byte(hello))
	}
	c.writeMu.Unlock()
	if err != nil {
		s.logf("conn %d: writing hello: %v", c.id, err)
		return
	}
	// Acks are recorded by a goroutine of their own, so that reading the
	// next one never waits for the lock that Web API calls hold.
	type arrived struct {
		id      string
		payload json.RawMessage
		at      time.Time
	}
	acks := make(chan arrived, 1024)
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		for a := range acks {
			s.recordAck(c, a.id, a.payload, a.at)
		}
	}()
	defer func() { close(acks); <-recorded }()
	for {
		_, data, err := c.ws.ReadMessage()
		at := time.Now() // when the ack arrived, before any work on it
		if err != nil {
			return
		}
		if len(data) >= maxAckBytes {
			s.logf("ERROR conn %d: refused a %d-byte ack (Slack's limit is 20 KiB); closing the connection", c.id, len(data))
			c.close()
			return
		}
		var ack struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(data, &ack); err != nil || ack.EnvelopeID == "" {
			s.logf("conn %d: ignored a frame that is not an ack: %.200s", c.id, data)
			continue
		}
		acks <- arrived{ack.EnvelopeID, ack.Payload, at}
	}
}

func (s *Server) removeConn(c *wsConn) {
	c.close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.conns {
		if x == c {
			s.conns = append(s.conns[:i], s.conns[i+1:]...)
			break
		}
	}
	s.notifyLocked()
}

func (s *Server) recordAck(c *wsConn, envelopeID string, payload json.RawMessage, now time.Time) {
	s.mu.Lock()
	st, ok := s.envs[envelopeID]
	if !ok || st.acked {
		s.mu.Unlock()
		if ok {
			s.logf("conn %d: second ack for envelope %s ignored", c.id, envelopeID)
		} else {
			s.logf("conn %d: ack for unknown envelope %s ignored", c.id, envelopeID)
		}
		return
	}
	st.acked = true
	delete(s.pending, envelopeID)
	if string(payload) == "null" {
		payload = nil
	}
	s.acks = append(s.acks, Ack{EnvelopeID: envelopeID, Payload: payload, At: now, SentAt: st.env.SentAt, Conn: c.id})
	if len(payload) > 0 && st.env.Type == "slash_commands" && st.env.AcceptsResponsePayload {
		s.ackResponseLocked(st.env, payload)
	}
	s.notifyLocked()
	s.mu.Unlock()
}

// send writes one envelope to one live connection, round robin.
func (s *Server) send(typ string, payload json.RawMessage, accepts, withRetry bool, attempt int, reason, id, eventID string) Envelope {
	if id == "" {
		id = newEnvelopeID()
	}
	st := &envState{env: Envelope{
		ID: id, Type: typ, AcceptsResponsePayload: accepts, RetryAttempt: attempt, RetryReason: reason,
		EventID: eventID, Payload: payload,
	}, withRetry: withRetry}
	frame := buildFrame(st, payload) // before the clock starts
	s.mu.Lock()
	var c *wsConn
	if r := s.routableLocked(); len(r) > 0 && !s.closed {
		c = r[s.rr%len(r)]
		s.rr++
	}
	st.env.SentAt = time.Now()
	if c != nil {
		st.env.Conn = c.id
	}
	if _, dup := s.envs[id]; dup {
		s.mu.Unlock()
		s.logf("envelope ID %s sent twice; the fake tracks the later one", id)
		s.mu.Lock()
	}
	s.envs[id] = st
	s.order = append(s.order, st)
	if typ == "events_api" {
		s.pending[id] = st
	}
	s.notifyLocked()
	s.mu.Unlock()

	if c == nil {
		s.logf("no live connection: %s envelope %s not delivered", typ, id)
		return st.env
	}
	if err := c.write(frame); err != nil {
		s.logf("conn %d: writing %s envelope %s: %v", c.id, typ, id, err)
		c.close()
		s.mu.Lock()
		st.env.Conn = 0
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return st.env
}

// buildFrame assembles the envelope by hand so that SendRaw can carry any
// payload bytes.
func buildFrame(st *envState, payload json.RawMessage) []byte {
	b := make([]byte, 0, len(payload)+160)
	b = append(b, `{"envelope_id":`...)
	b = strconv.AppendQuote(b, st.env.ID)
	b = append(b, `,"type":`...)
	b = strconv.AppendQuote(b, st.env.Type)
	b = append(b, `,"accepts_response_payload":`...)
	b = strconv.AppendBool(b, st.env.AcceptsResponsePayload)
	if st.withRetry {
		b = append(b, `,"retry_attempt":`...)
		b = strconv.AppendInt(b, int64(st.env.RetryAttempt), 10)
		b = append(b, `,"retry_reason":`...)
		b = strconv.AppendQuote(b, st.env.RetryReason)
	}
	if payload != nil {
		b = append(b, `,"payload":`...)
		b = append(b, payload...)
	}
	return append(b, '}')
}

// SendRaw sends an envelope of any type with any payload, for odd and bad
// input. A nil payload leaves the "payload" key out.
func (s *Server) SendRaw(envelopeType string, payload json.RawMessage, opts ...EnvelopeOption) Envelope {
	var o envelopeOpts
	for _, f := range opts {
		f(&o)
	}
	accepts := envelopeType == "slash_commands"
	if o.accepts != nil {
		accepts = *o.accepts
	}
	withRetry := envelopeType == "events_api" || o.retry != nil
	attempt := 0
	if o.retry != nil {
		attempt = *o.retry
	}
	var probe struct {
		EventID string `json:"event_id"`
	}
	_ = json.Unmarshal(payload, &probe)
	return s.send(envelopeType, payload, accepts, withRetry, attempt, o.retryReason, o.id, probe.EventID)
}

// SendFrame writes any bytes as one text frame to one live connection, for
// frames that are not envelopes at all. It returns the connection number.
func (s *Server) SendFrame(frame []byte) (int, error) {
	s.mu.Lock()
	r := s.routableLocked()
	if len(r) == 0 {
		s.mu.Unlock()
		return 0, fmt.Errorf("slacktest: no live connection")
	}
	c := r[s.rr%len(r)]
	s.rr++
	s.mu.Unlock()
	return c.id, c.write(frame)
}

// Redeliver sends an envelope again as Slack retries it: same type and payload
// (so the same event_id), a new envelope_id, retry_attempt+1, retry_reason
// "timeout". Slack only does this for events_api; here any type may be redone.
func (s *Server) Redeliver(e Envelope) Envelope {
	s.mu.Lock()
	if st, ok := s.envs[e.ID]; ok {
		st.redelivered = true
		delete(s.pending, e.ID)
	}
	s.mu.Unlock()
	retry := e.Type == "events_api"
	return s.send(e.Type, e.Payload, e.AcceptsResponsePayload, retry, e.RetryAttempt+1, "timeout", "", e.EventID)
}

// redeliverLoop redelivers events_api envelopes left unacked too long.
func (s *Server) redeliverLoop() {
	step := max(min(s.cfg.redeliverAfter/10, 100*time.Millisecond), 5*time.Millisecond)
	tick := time.NewTicker(step)
	defer tick.Stop()
	for {
		select {
		case <-s.done:
			return
		case now := <-tick.C:
			var due []Envelope
			s.mu.Lock()
			for id, st := range s.pending {
				if now.Sub(st.env.SentAt) < s.cfg.redeliverAfter {
					continue
				}
				delete(s.pending, id)
				if st.env.RetryAttempt >= maxRetries {
					continue // Slack gives up after 3 retries
				}
				st.redelivered = true
				due = append(due, st.env)
			}
			s.mu.Unlock()
			for _, e := range due {
				s.send(e.Type, e.Payload, e.AcceptsResponsePayload, true, e.RetryAttempt+1, "timeout", "", e.EventID)
			}
		}
	}
}

// WaitConnected waits until at least n connections are live (not counting
// connections that were told to disconnect).
func (s *Server) WaitConnected(n int, timeout time.Duration) error {
	var have int
	if s.waitFor(timeout, func() bool { have = len(s.routableLocked()); return have >= n }) {
		return nil
	}
	return fmt.Errorf("%w waiting for %d Socket Mode connections after %v: %d live", errTimeout, n, timeout, have)
}

// Connections is the number of live connections that take envelopes.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.routableLocked())
}

// Opens counts successful apps.connections.open calls.
func (s *Server) Opens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opens
}

// WaitAck waits for the ack of envelope e.
func (s *Server) WaitAck(e Envelope, timeout time.Duration) (Ack, error) {
	var got Ack
	found := s.waitFor(timeout, func() bool {
		st, ok := s.envs[e.ID]
		if !ok || !st.acked {
			return false
		}
		for i := len(s.acks) - 1; i >= 0; i-- {
			if s.acks[i].EnvelopeID == e.ID {
				got = s.acks[i]
				return true
			}
		}
		return false
	})
	if !found {
		return Ack{}, fmt.Errorf("%w waiting %v for the ack of %s envelope %s", errTimeout, timeout, e.Type, e.ID)
	}
	return got, nil
}

// Acks lists every ack received, in order of arrival.
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ack(nil), s.acks...)
}

// Unacked lists the envelopes sent and never acked, oldest first (a
// redelivered envelope stays listed until its own envelope_id is acked).
func (s *Server) Unacked() []Envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Envelope
	for _, st := range s.order {
		if !st.acked {
			out = append(out, st.env)
		}
	}
	return out
}

// Envelopes lists every envelope sent, oldest first.
func (s *Server) Envelopes() []Envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Envelope, 0, len(s.order))
	for _, st := range s.order {
		out = append(out, st.env)
	}
	return out
}

// Disconnect sends {"type":"disconnect","reason":reason} to every live
// connection, stops sending envelopes to them, and closes them a moment later,
// as Slack does. Reasons Slack uses: "warning", "refresh_requested",
// "link_disabled".
func (s *Server) Disconnect(reason string) {
	s.mu.Lock()
	var targets []*wsConn
	for _, c := range s.conns {
		if c.ready && !c.draining {
			c.draining = true
			targets = append(targets, c)
		}
	}
	s.notifyLocked()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.wg.Add(len(targets))
	s.mu.Unlock()
	frame := fmt.Appendf(nil, `{"type":"disconnect","reason":%q,"debug_info":{"host":"fake"}}`, reason)
	for _, c := range targets {
		if err := c.write(frame); err != nil {
			s.logf("conn %d: writing disconnect: %v", c.id, err)
		}
		go func() {
			defer s.wg.Done()
			select {
			case <-time.After(closeGrace):
				c.writeMu.Lock()
				_ = c.ws.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
				c.writeMu.Unlock()
			case <-s.done:
			}
			c.close()
		}()
	}
}

// DropConnections closes every connection at once, without a close frame, as a
// network failure would.
func (s *Server) DropConnections() {
	s.mu.Lock()
	conns := append([]*wsConn(nil), s.conns...)
	for _, c := range conns {
		c.draining = true
	}
	s.notifyLocked()
	s.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}
