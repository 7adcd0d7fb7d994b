package slacktest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Call is one Web API request as the fake received it.
type Call struct {
	Method string         // e.g. "chat.postMessage"; "upload" and "response_url" for those URLs
	Token  string         // from Authorization: Bearer, else the token form field
	Form   url.Values     // query and form-encoded or multipart fields
	JSON   map[string]any // the JSON body, when there was one
	At     time.Time
	Status int    // HTTP status answered
	Error  string // Slack error answered, "" when ok
}

// Param returns a parameter from the form or, failing that, the JSON body
// (non-string JSON values come back as JSON text).
func (c Call) Param(name string) string {
	v, _ := c.param(name)
	return v
}

func (c Call) param(name string) (string, bool) {
	if vs, ok := c.Form[name]; ok && len(vs) > 0 {
		return vs[0], true
	}
	v, ok := c.JSON[name]
	if !ok || v == nil {
		return "", false
	}
	if s, isStr := v.(string); isStr {
		return s, true
	}
	b, _ := json.Marshal(v)
	return string(b), true
}

// Message is the current state of a message the bot posted.
type Message struct {
	Channel   string
	TS        string
	ThreadTS  string
	Text      string
	User      string // the target user of an ephemeral message
	Blocks    json.RawMessage
	Ephemeral bool
	Updates   int // how many times it was changed (chat.update, replace_original)
}

// Channel is a conversation known to the fake.
type Channel struct {
	ID        string
	Name      string
	IsPrivate bool
	IsIM      bool
	Created   int64
	Members   []string // members added by conversations.create and conversations.invite
	Archived  bool     // set by conversations.archive
}

// User is a workspace member.
type User struct {
	ID       string
	Name     string
	RealName string
	IsBot    bool
	Deleted  bool
	TZ       string
}

// File is a file shared through files.completeUploadExternal.
type File struct {
	ID             string
	Name           string // filename given to files.getUploadURLExternal
	Title          string
	Length         int // declared length
	Channel        string
	ThreadTS       string
	InitialComment string
	Content        []byte // the bytes uploaded
	uploaded       bool
}

type channel struct {
	Channel
	membersKnown bool // false for channels only seen in events: anyone may be in them
}

type msgState struct {
	m       Message
	deleted bool
}

type responseURL struct {
	slash     bool
	channel   string
	user      string
	messageTS string
	threadTS  string
	uses      int
}

type tokenKind int

const (
	botToken tokenKind = iota
	appToken
	anyToken
)

type handler func(s *Server, c *Call) (map[string]any, string)

var methods = map[string]struct {
	token tokenKind
	h     handler
}{
	"auth.test":                    {anyToken, (*Server).authTest},
	"apps.connections.open":        {appToken, (*Server).connectionsOpen},
	"chat.postMessage":             {botToken, (*Server).chatPostMessage},
	"chat.update":                  {botToken, (*Server).chatUpdate},
	"chat.postEphemeral":           {botToken, (*Server).chatPostEphemeral},
	"chat.delete":                  {botToken, (*Server).chatDelete},
	"conversations.create":         {botToken, (*Server).conversationsCreate},
	"conversations.invite":         {botToken, (*Server).conversationsInvite},
	"conversations.info":           {botToken, (*Server).conversationsInfo},
	"conversations.archive":        {botToken, (*Server).conversationsArchive},
	"users.info":                   {botToken, (*Server).usersInfo},
	"usergroups.users.list":        {botToken, (*Server).usergroupsUsersList},
	"files.getUploadURLExternal":   {botToken, (*Server).filesGetUploadURLExternal},
	"files.completeUploadExternal": {botToken, (*Server).filesCompleteUploadExternal},
}

// RateLimit makes the next `times` calls of method answer HTTP 429 with
// Retry-After and {"ok":false,"error":"ratelimited"}. Retry-After is whole
// seconds as with Slack: a sub-second retryAfter is rounded up to 1 s.
func (s *Server) RateLimit(method string, times int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimits[method] = &injected{times: times, retryAfter: retryAfter}
}

// Fail makes the next `times` calls of method answer {"ok":false,"error":slackError},
// e.g. "channel_not_found" or "not_in_channel".
func (s *Server) Fail(method, slackError string, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails[method] = &injected{times: times, err: slackError}
}

// Calls lists the calls of method (all calls when method is ""), in order.
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.callsLocked(method)
}

func (s *Server) callsLocked(method string) []Call {
	if method != "" {
		return slices.Clone(s.calls[method])
	}
	var all []Call
	for _, cs := range s.calls {
		all = append(all, cs...)
	}
	slices.SortStableFunc(all, func(a, b Call) int { return a.At.Compare(b.At) })
	return all
}

// WaitCalls waits until method has been called at least n times and returns
// the calls.
func (s *Server) WaitCalls(method string, n int, timeout time.Duration) ([]Call, error) {
	var got []Call
	if s.waitFor(timeout, func() bool { got = s.callsLocked(method); return len(got) >= n }) {
		return got, nil
	}
	return got, fmt.Errorf("%w waiting %v for %d %s calls: got %d", errTimeout, timeout, n, method, len(got))
}

// Messages lists the messages in a channel (a user ID means the DM with that
// user), as they are now, in the order they were posted. Deleted messages are
// left out; ephemeral ones are included with Ephemeral set.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.resolveChannelLocked(channel); ok {
		channel = id
	}
	var out []Message
	for _, st := range s.msgs {
		if !st.deleted && st.m.Channel == channel {
			m := st.m
			m.Blocks = slices.Clone(m.Blocks)
			out = append(out, m)
		}
	}
	return out
}

// WaitMessages waits until channel holds at least n messages and returns them.
func (s *Server) WaitMessages(channel string, n int, timeout time.Duration) ([]Message, error) {
	if s.waitFor(timeout, func() bool {
		c := 0
		id, ok := s.resolveChannelLocked(channel)
		if !ok {
			id = channel
		}
		for _, st := range s.msgs {
			if !st.deleted && st.m.Channel == id {
				c++
			}
		}
		return c >= n
	}) {
		return s.Messages(channel), nil
	}
	got := s.Messages(channel)
	return got, fmt.Errorf("%w waiting %v for %d messages in %s: got %d", errTimeout, timeout, n, channel, len(got))
}

// Files lists the files shared so far, in order.
func (s *Server) Files() []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.files)
	for i := range out {
		out[i].Content = slices.Clone(out[i].Content)
	}
	return out
}

// AddChannel makes a public channel exist, with unknown membership.
func (s *Server) AddChannel(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.ensureChannelLocked(id, name)
	c.Name = name
}

// SetMembers makes a channel's membership known and exactly members
// (without the bot's user ID, the bot is not in it: not_in_channel).
func (s *Server) SetMembers(id string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.ensureChannelLocked(id, "")
	c.Members, c.membersKnown = slices.Clone(members), true
}

// Channels lists the known conversations.
func (s *Server) Channels() []Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Channel, 0, len(s.channels))
	for _, c := range s.channels {
		ch := c.Channel
		ch.Members = slices.Clone(ch.Members)
		out = append(out, ch)
	}
	slices.SortFunc(out, func(a, b Channel) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// AddUser adds or replaces a workspace member.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.Name == "" {
		u.Name = strings.ToLower(u.ID)
	}
	s.users[u.ID] = &u
}

// AddUserGroup defines a user group (e.g. "S0ONCALL") and its members.
func (s *Server) AddUserGroup(id string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[id] = slices.Clone(members)
}

// handleAPI answers one Web API method.
func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	call, parseErr := readCall(r)
	call.Method = method

	status := http.StatusOK
	var resp map[string]any
	errStr := parseErr
	s.mu.Lock()
	m, known := methods[method]
	switch {
	case !known:
		errStr = "unknown_method"
	case errStr != "":
	default:
		errStr = s.checkTokenLocked(call.Token, m.token)
	}
	if errStr == "" {
		if rl := s.rateLimits[method]; rl != nil && rl.times > 0 {
			rl.times--
			status = http.StatusTooManyRequests
			errStr = "ratelimited"
			secs := max(int64((rl.retryAfter+time.Second-1)/time.Second), 1)
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		} else if f := s.fails[method]; f != nil && f.times > 0 {
			f.times--
			errStr = f.err
		} else {
			resp, errStr = m.h(s, &call)
		}
	}
	if errStr != "" {
		resp = map[string]any{"ok": false, "error": errStr}
		if errStr == "unknown_method" {
			resp["req_method"] = method
		}
	} else {
		if resp == nil {
			resp = map[string]any{}
		}
		resp["ok"] = true
	}
	call.Status, call.Error = status, errStr
	s.calls[method] = append(s.calls[method], call)
	s.notifyLocked()
	s.mu.Unlock()
	writeJSON(w, status, resp)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// readCall parses the token and parameters the way Slack accepts them.
func readCall(r *http.Request) (Call, string) {
	call := Call{At: time.Now(), Form: url.Values{}}
	for k, v := range r.URL.Query() {
		call.Form[k] = v
	}
	if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Bearer ") {
		call.Token = strings.TrimPrefix(auth, "Bearer ")
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	errStr := ""
	switch ct {
	case "multipart/form-data":
		if err := r.ParseMultipartForm(32 << 20); err != nil {
			errStr = "invalid_form_data"
		} else {
			for k, v := range r.MultipartForm.Value {
				call.Form[k] = v
			}
		}
	default:
		body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
		if err != nil {
			return call, "invalid_form_data"
		}
		switch {
		case ct == "application/json":
			if len(strings.TrimSpace(string(body))) > 0 {
				if json.Unmarshal(body, &call.JSON) != nil {
					errStr = "invalid_json"
				}
			}
		case len(body) > 0:
			vals, err := url.ParseQuery(string(body))
			if err != nil {
				errStr = "invalid_form_data"
			}
			for k, v := range vals {
				call.Form[k] = append(call.Form[k], v...)
			}
		}
	}
	if call.Token == "" { // a JSON body cannot carry the token, as with Slack
		call.Token = call.Form.Get("token")
	}
	return call, errStr
}

func (s *Server) checkTokenLocked(tok string, want tokenKind) string {
	switch {
	case tok == "":
		return "not_authed"
	case tok == s.cfg.botToken:
		if want == appToken {
			return "not_allowed_token_type"
		}
	case tok == s.cfg.appToken:
		if want == botToken {
			return "not_allowed_token_type"
		}
	default:
		return "invalid_auth"
	}
	return ""
}

func (s *Server) authTest(c *Call) (map[string]any, string) {
	return map[string]any{
		"url": "https://" + TeamDomain + ".slack.com/", "team": "ShiftWise Test", "user": s.cfg.botUserName,
		"team_id": TeamID, "user_id": s.cfg.botUserID, "bot_id": BotID, "is_enterprise_install": false,
	}, ""
}

func (s *Server) connectionsOpen(c *Call) (map[string]any, string) {
	if len(s.routableLocked()) >= s.cfg.maxConns {
		return nil, "too_many_websockets"
	}
	ticket := randomHex(16)
	s.tickets[ticket] = time.Now().Add(ticketLifetime)
	s.opens++
	u := "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/link?ticket=" + ticket + "&app_id=" + AppID
	return map[string]any{"url": u}, ""
}

// resolveChannelLocked maps a channel ID, a "#name" or name, or a user ID (its
// DM, opened on first use) to a channel ID.
func (s *Server) resolveChannelLocked(ref string) (string, bool) {
	if ref == "" {
		return "", false
	}
	if _, ok := s.channels[ref]; ok {
		return ref, true
	}
	if _, ok := s.users[ref]; ok {
		if dm, ok := s.dms[ref]; ok {
			return dm, true
		}
		dm := s.nextIDLocked("D")
		s.dms[ref] = dm
		s.channels[dm] = &channel{Channel: Channel{ID: dm, Name: dm, IsIM: true, IsPrivate: true,
			Created: time.Now().Unix(), Members: []string{s.cfg.botUserID, ref}}, membersKnown: true}
		return dm, true
	}
	name := strings.TrimPrefix(ref, "#")
	for id, c := range s.channels {
		if c.Name == name && !c.IsIM {
			return id, true
		}
	}
	return "", false
}

// messageContent reads text and blocks of a message-posting call.
func messageContent(c *Call) (text string, hasText bool, blocks []map[string]any, rawBlocks json.RawMessage, hasBlocks bool, errStr string) {
	text, hasText = c.param("text")
	var raw string
	raw, hasBlocks = c.param("blocks")
	if hasBlocks && raw != "" {
		if err := json.Unmarshal([]byte(raw), &blocks); err != nil {
			return "", false, nil, nil, false, "invalid_blocks_format"
		}
		rawBlocks = json.RawMessage(raw)
	}
	return text, hasText, blocks, rawBlocks, hasBlocks, ""
}

func hasAttachments(c *Call) bool {
	a, ok := c.param("attachments")
	return ok && a != "" && a != "[]" && a != "null"
}

func (s *Server) messageJSON(m Message) map[string]any {
	out := map[string]any{
		"type": "message", "user": s.cfg.botUserID, "bot_id": BotID, "app_id": AppID,
		"text": m.Text, "ts": m.TS, "team": TeamID,
	}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
	}
	if len(m.Blocks) > 0 {
		out["blocks"] = m.Blocks
	}
	return out
}

func (s *Server) storeMessageLocked(m Message) {
	st := &msgState{m: m}
	s.msgs = append(s.msgs, st)
	s.msgIndex[m.Channel+"/"+m.TS] = st
}

func (s *Server) chatPostMessage(c *Call) (map[string]any, string) {
	ch, ok := s.resolveChannelLocked(c.Param("channel"))
	if !ok {
		return nil, "channel_not_found"
	}
	if s.channels[ch].Archived {
		return nil, "is_archived"
	}
	text, _, blocks, raw, _, errStr := messageContent(c)
	if errStr != "" {
		return nil, errStr
	}
	if text == "" && len(blocks) == 0 && !hasAttachments(c) {
		return nil, "no_text"
	}
	text, errStr = s.checkMessageLocked("chat.postMessage", text, blocks)
	if errStr != "" {
		return nil, errStr
	}
	m := Message{Channel: ch, TS: s.nextTSLocked(), ThreadTS: c.Param("thread_ts"), Text: text, Blocks: raw}
	s.storeMessageLocked(m)
	return map[string]any{"channel": ch, "ts": m.TS, "message": s.messageJSON(m)}, ""
}

func (s *Server) chatUpdate(c *Call) (map[string]any, string) {
	ch, ok := s.resolveChannelLocked(c.Param("channel"))
	if !ok {
		return nil, "channel_not_found"
	}
	st := s.msgIndex[ch+"/"+c.Param("ts")]
	if st == nil || st.deleted || st.m.Ephemeral {
		return nil, "message_not_found"
	}
	text, hasText, blocks, raw, hasBlocks, errStr := messageContent(c)
	if errStr != "" {
		return nil, errStr
	}
	if !hasText && !hasBlocks && !hasAttachments(c) {
		return nil, "no_text"
	}
	m := st.m
	if hasText {
		m.Text = text
	}
	if hasBlocks { // left out, the message keeps its blocks; [] removes them
		m.Blocks = raw
		if len(blocks) == 0 {
			m.Blocks = nil
		}
	} else if len(m.Blocks) > 0 {
		_ = json.Unmarshal(m.Blocks, &blocks)
	}
	m.Text, errStr = s.checkMessageLocked("chat.update", m.Text, blocks)
	if errStr != "" {
		return nil, errStr
	}
	m.Updates++
	st.m = m
	return map[string]any{"channel": ch, "ts": m.TS, "text": m.Text, "message": s.messageJSON(m)}, ""
}

func (s *Server) chatPostEphemeral(c *Call) (map[string]any, string) {
	ch, ok := s.resolveChannelLocked(c.Param("channel"))
	if !ok {
		return nil, "channel_not_found"
	}
	user := c.Param("user")
	if _, ok := s.users[user]; !ok {
		return nil, "user_not_found"
	}
	if cs := s.channels[ch]; cs.membersKnown && !slices.Contains(cs.Members, user) {
		return nil, "user_not_in_channel"
	}
	text, _, blocks, raw, _, errStr := messageContent(c)
	if errStr != "" {
		return nil, errStr
	}
	if text == "" && len(blocks) == 0 && !hasAttachments(c) {
		return nil, "no_text"
	}
	text, errStr = s.checkMessageLocked("chat.postEphemeral", text, blocks)
	if errStr != "" {
		return nil, errStr
	}
	m := Message{Channel: ch, TS: s.nextTSLocked(), ThreadTS: c.Param("thread_ts"), Text: text,
		Blocks: raw, User: user, Ephemeral: true}
	s.storeMessageLocked(m)
	return map[string]any{"message_ts": m.TS}, ""
}

func (s *Server) chatDelete(c *Call) (map[string]any, string) {
	ch, ok := s.resolveChannelLocked(c.Param("channel"))
	if !ok {
		return nil, "channel_not_found"
	}
	ts := c.Param("ts")
	st := s.msgIndex[ch+"/"+ts]
	if st == nil || st.deleted || st.m.Ephemeral {
		return nil, "message_not_found"
	}
	st.deleted = true
	return map[string]any{"channel": ch, "ts": ts}, ""
}

var channelName = regexp.MustCompile(`^[a-z0-9_-]+$`)

func (s *Server) conversationsCreate(c *Call) (map[string]any, string) {
	name := c.Param("name")
	switch {
	case name == "":
		return nil, "invalid_name_required"
	case len([]rune(name)) > 80:
		return nil, "invalid_name_maxlength"
	case !channelName.MatchString(name): // also refuses upper case, as Slack does
		return nil, "invalid_name_specials"
	case strings.Trim(name, "-_") == "":
		return nil, "invalid_name_punctuation"
	}
	for _, ch := range s.channels {
		if ch.Name == name && !ch.IsIM {
			return nil, "name_taken"
		}
	}
	private := c.Param("is_private") == "true"
	ch := &channel{Channel: Channel{ID: s.nextIDLocked("C"), Name: name, IsPrivate: private,
		Created: time.Now().Unix(), Members: []string{s.cfg.botUserID}}, membersKnown: true}
	s.channels[ch.ID] = ch
	return map[string]any{"channel": s.channelJSON(ch)}, ""
}

func (s *Server) channelJSON(c *channel) map[string]any {
	if c.IsIM {
		return map[string]any{"id": c.ID, "is_im": true, "user": c.Members[len(c.Members)-1],
			"created": c.Created, "is_open": true}
	}
	member := !c.membersKnown || slices.Contains(c.Members, s.cfg.botUserID)
	out := map[string]any{
		"id": c.ID, "name": c.Name, "name_normalized": c.Name, "is_channel": !c.IsPrivate,
		"is_group": false, "is_im": false, "is_mpim": false, "is_private": c.IsPrivate,
		"created": c.Created, "creator": s.cfg.botUserID, "is_archived": c.Archived, "is_general": false,
		"is_member": member, "is_shared": false, "is_ext_shared": false, "is_org_shared": false,
		"topic":   map[string]any{"value": "", "creator": "", "last_set": 0},
		"purpose": map[string]any{"value": "", "creator": "", "last_set": 0},
	}
	if c.membersKnown {
		out["num_members"] = len(c.Members)
	}
	return out
}

func (s *Server) conversationsInvite(c *Call) (map[string]any, string) {
	ch, ok := s.channels[c.Param("channel")]
	if !ok {
		return nil, "channel_not_found"
	}
	if ch.Archived {
		return nil, "is_archived"
	}
	if ch.membersKnown && !slices.Contains(ch.Members, s.cfg.botUserID) {
		return nil, "not_in_channel"
	}
	users := strings.Split(c.Param("users"), ",")
	if c.Param("users") == "" {
		return nil, "no_user"
	}
	for _, u := range users {
		switch _, known := s.users[u]; {
		case !known:
			return nil, "user_not_found"
		case u == s.cfg.botUserID:
			return nil, "cant_invite_self"
		case slices.Contains(ch.Members, u):
			return nil, "already_in_channel"
		}
	}
	ch.Members = append(ch.Members, users...)
	return map[string]any{"channel": s.channelJSON(ch)}, ""
}

// conversationsArchive archives a channel as Slack does: the bot must be
// a member (not_in_channel), a DM cannot be archived
// (method_not_supported_for_channel_type), a second archive answers
// already_archived. An archived channel refuses posts and invitations
// (is_archived) and keeps its name (conversations.create: name_taken).
func (s *Server) conversationsArchive(c *Call) (map[string]any, string) {
	ch, ok := s.channels[c.Param("channel")]
	switch {
	case !ok:
		return nil, "channel_not_found"
	case ch.IsIM:
		return nil, "method_not_supported_for_channel_type"
	case ch.Archived:
		return nil, "already_archived"
	case ch.membersKnown && !slices.Contains(ch.Members, s.cfg.botUserID):
		return nil, "not_in_channel"
	}
	ch.Archived = true
	return map[string]any{}, ""
}

func (s *Server) conversationsInfo(c *Call) (map[string]any, string) {
	ch, ok := s.channels[c.Param("channel")]
	if !ok {
		return nil, "channel_not_found"
	}
	return map[string]any{"channel": s.channelJSON(ch)}, ""
}

func (s *Server) usersInfo(c *Call) (map[string]any, string) {
	u, ok := s.users[c.Param("user")]
	if !ok {
		return nil, "user_not_found"
	}
	tz := u.TZ
	if tz == "" {
		tz = "Europe/London"
	}
	return map[string]any{"user": map[string]any{
		"id": u.ID, "team_id": TeamID, "name": u.Name, "deleted": u.Deleted, "real_name": u.RealName,
		"tz": tz, "tz_label": tz, "tz_offset": 0, "is_bot": u.IsBot, "is_admin": false, "is_owner": false,
		"is_app_user": false, "updated": 1700000000,
		"profile": map[string]any{"real_name": u.RealName, "display_name": u.Name, "team": TeamID},
	}}, ""
}

func (s *Server) usergroupsUsersList(c *Call) (map[string]any, string) {
	members, ok := s.groups[c.Param("usergroup")]
	if !ok {
		return nil, "no_such_subteam"
	}
	return map[string]any{"users": slices.Clone(members)}, ""
}

func (s *Server) filesGetUploadURLExternal(c *Call) (map[string]any, string) {
	name := c.Param("filename")
	length, err := strconv.Atoi(c.Param("length"))
	if name == "" || err != nil || length <= 0 {
		return nil, "invalid_arguments"
	}
	f := &File{ID: s.nextIDLocked("F"), Name: name, Length: length}
	secret := randomHex(12)
	s.uploads[secret] = f
	s.fileByID[f.ID] = f
	return map[string]any{"upload_url": s.srv.URL + "/upload/v1/" + secret, "file_id": f.ID}, ""
}

// handleUpload receives the file bytes POSTed to an upload_url, as multipart
// (what slack-go sends) or as the raw body.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	secret := strings.TrimPrefix(r.URL.Path, "/upload/v1/")
	call := Call{Method: "upload", At: time.Now(), Form: url.Values{}}
	if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Bearer ") {
		call.Token = strings.TrimPrefix(auth, "Bearer ")
	}
	var content []byte
	var readErr error
	if ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "multipart/form-data" {
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				if err != io.EOF {
					readErr = err
				}
				break
			}
			b, err := io.ReadAll(io.LimitReader(p, 1<<30))
			if err != nil {
				readErr = err
				break
			}
			if p.FileName() != "" || p.FormName() == "file" {
				content = b
				call.Form.Set("filename", p.FileName())
			} else {
				call.Form.Add(p.FormName(), string(b))
			}
		}
	} else {
		content, readErr = io.ReadAll(io.LimitReader(r.Body, 1<<30))
	}

	s.mu.Lock()
	f, ok := s.uploads[secret]
	status := http.StatusOK
	switch {
	case r.Method != http.MethodPost:
		status, call.Error = http.StatusMethodNotAllowed, "method_not_allowed"
	case !ok:
		status, call.Error = http.StatusNotFound, "upload_url_not_found"
	case readErr != nil:
		status, call.Error = http.StatusBadRequest, "invalid_upload"
	default:
		f.Content = content
		f.uploaded = true
		if len(content) != f.Length {
			s.violateLocked("upload %s: %d bytes uploaded, %d declared to files.getUploadURLExternal",
				f.ID, len(content), f.Length)
		}
	}
	call.Status = status
	s.calls["upload"] = append(s.calls["upload"], call)
	s.notifyLocked()
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	if status == http.StatusOK {
		_, _ = fmt.Fprintf(w, "OK - %d", len(content))
	} else {
		_, _ = io.WriteString(w, call.Error)
	}
}

func (s *Server) filesCompleteUploadExternal(c *Call) (map[string]any, string) {
	var list []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(c.Param("files")), &list); err != nil || len(list) == 0 {
		return nil, "invalid_arguments"
	}
	channels := []string{}
	if ch := c.Param("channel_id"); ch != "" {
		channels = append(channels, ch)
	}
	if chs := c.Param("channels"); chs != "" {
		channels = append(channels, strings.Split(chs, ",")...)
	}
	for i, ch := range channels {
		id, ok := s.resolveChannelLocked(ch)
		if !ok {
			return nil, "channel_not_found"
		}
		channels[i] = id
	}
	if _, has := c.param("blocks"); has {
		_, _, blocks, _, _, errStr := messageContent(c)
		if errStr != "" {
			return nil, errStr
		}
		if _, errStr := s.checkMessageLocked("files.completeUploadExternal", "", blocks); errStr != "" {
			return nil, errStr
		}
	}
	for _, it := range list {
		f, ok := s.fileByID[it.ID]
		if !ok || !f.uploaded {
			return nil, "file_not_found"
		}
	}
	var out []map[string]any
	for _, it := range list {
		f := s.fileByID[it.ID]
		f.Title = it.Title
		if f.Title == "" {
			f.Title = f.Name
		}
		f.ThreadTS = c.Param("thread_ts")
		f.InitialComment = c.Param("initial_comment")
		if len(channels) > 0 {
			f.Channel = channels[0]
		}
		s.files = append(s.files, *f)
		out = append(out, map[string]any{"id": f.ID, "title": f.Title})
	}
	return map[string]any{"files": out}, ""
}

func (s *Server) newResponseURLLocked(r *responseURL) string {
	key := randomHex(12)
	s.responses[key] = r
	return s.srv.URL + "/response/" + key
}

// handleResponseURL takes a JSON message POSTed to a response_url. Slack lets
// a response_url be used 5 times; later uses are recorded as violations and
// answered 404 used_url.
func (s *Server) handleResponseURL(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, "/response/")
	call := Call{Method: "response_url", At: time.Now(), Form: url.Values{}}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	jsonErr := json.Unmarshal(body, &call.JSON)

	s.mu.Lock()
	rurl, ok := s.responses[key]
	status := http.StatusOK
	switch {
	case !ok:
		status, call.Error = http.StatusNotFound, "no_service"
	case jsonErr != nil:
		status, call.Error = http.StatusBadRequest, "invalid_payload"
	case rurl.uses >= 5:
		s.violateLocked("response_url used a 6th time (Slack allows 5 uses)")
		status, call.Error = http.StatusNotFound, "used_url"
	default:
		rurl.uses++
		call.Error = s.applyResponseLocked("response_url", rurl, call.JSON)
	}
	call.Status = status
	s.calls["response_url"] = append(s.calls["response_url"], call)
	s.notifyLocked()
	s.mu.Unlock()

	if status != http.StatusOK {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, call.Error)
		return
	}
	if call.Error != "" {
		writeJSON(w, status, map[string]any{"ok": false, "error": call.Error})
		return
	}
	writeJSON(w, status, map[string]any{"ok": true})
}

// ackResponseLocked posts the payload of a slash command's ack, as Slack does.
func (s *Server) ackResponseLocked(e Envelope, payload json.RawMessage) {
	var p struct {
		ResponseURL string `json:"response_url"`
	}
	_ = json.Unmarshal(e.Payload, &p)
	rurl := s.responses[strings.TrimPrefix(p.ResponseURL, s.srv.URL+"/response/")]
	var body map[string]any
	if rurl == nil || json.Unmarshal(payload, &body) != nil {
		return
	}
	if errStr := s.applyResponseLocked("ack payload", rurl, body); errStr != "" {
		s.violateLocked("ack payload of envelope %s refused by Slack: %s", e.ID, errStr)
	}
}

// applyResponseLocked applies a response_url or ack message: a new message
// (ephemeral unless "response_type":"in_channel"), or for interactive
// responses replace_original / delete_original of the source message.
func (s *Server) applyResponseLocked(where string, r *responseURL, body map[string]any) string {
	truthy := func(k string) bool {
		switch v := body[k].(type) {
		case bool:
			return v
		case string:
			return v == "true"
		}
		return false
	}
	str := func(k string) string { v, _ := body[k].(string); return v }
	var src *msgState
	if !r.slash {
		src = s.msgIndex[r.channel+"/"+r.messageTS]
	}
	if truthy("delete_original") && !r.slash {
		if src == nil || src.deleted {
			return "message_not_found"
		}
		src.deleted = true
		return ""
	}
	text := str("text")
	var blocks []map[string]any
	var raw json.RawMessage
	if b, ok := body["blocks"]; ok && b != nil {
		raw, _ = json.Marshal(b)
		if json.Unmarshal(raw, &blocks) != nil {
			return "invalid_blocks_format"
		}
	}
	if text == "" && len(blocks) == 0 {
		return "no_text"
	}
	text, errStr := s.checkMessageLocked(where, text, blocks)
	if errStr != "" {
		return errStr
	}
	if len(blocks) == 0 {
		raw = nil
	}
	if truthy("replace_original") && !r.slash {
		if src == nil || src.deleted {
			return "message_not_found"
		}
		src.m.Text, src.m.Blocks = text, raw
		src.m.Updates++
		return ""
	}
	m := Message{Channel: r.channel, TS: s.nextTSLocked(), ThreadTS: str("thread_ts"), Text: text, Blocks: raw}
	if m.ThreadTS == "" {
		m.ThreadTS = r.threadTS
	}
	if str("response_type") != "in_channel" {
		m.Ephemeral, m.User = true, r.user
	}
	s.storeMessageLocked(m)
	return ""
}
