package slacktest

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// SlashCommand is a user typing a slash command. Slash commands carry no thread.
type SlashCommand struct {
	User        string // required, e.g. "U024BE7LH"
	UserName    string // default: the user's name
	Channel     string // required, e.g. "C0OPS"
	ChannelName string // default: the channel's name
	Command     string // default "/shiftwise"
	Text        string // what follows the command, e.g. "health"
}

// Mention is an app_mention event: a user writing "<@UBOT> …" in a channel or,
// with ThreadTS, in a thread.
type Mention struct {
	User     string // required
	Channel  string // required
	Text     string // e.g. "<@UBOT> health"
	ThreadTS string // the thread's parent ts when in a thread
	TS       string // the mentioning message's ts; default: a new one
}

// BlockAction is a user pressing a button. When MessageTS names a message the
// bot posted, BlockID, Value, Text and ThreadTS default to the button found by
// ActionID (and BlockID, if set) in that message, and pressing a button that is
// not there is recorded as a violation.
type BlockAction struct {
	User      string // required
	Channel   string // required
	MessageTS string // the message holding the button
	ThreadTS  string // the message's thread, if it is a reply
	ActionID  string // required
	BlockID   string
	Value     string
	Text      string // the button's text
}

// SlashCommand sends a slash_commands envelope to one live connection.
func (s *Server) SlashCommand(c SlashCommand) Envelope {
	if c.Command == "" {
		c.Command = "/shiftwise"
	}
	s.require("SlashCommand", c.User, c.Channel)
	s.mu.Lock()
	u := s.ensureUserLocked(c.User)
	ch := s.ensureChannelLocked(c.Channel, c.ChannelName)
	if c.UserName == "" {
		c.UserName = u.Name
	}
	if c.ChannelName == "" {
		c.ChannelName = ch.Name
	}
	respURL := s.newResponseURLLocked(&responseURL{slash: true, channel: c.Channel, user: c.User})
	trigger := s.triggerIDLocked()
	s.mu.Unlock()

	// Field for field what Slack sends, including is_enterprise_install as the
	// string "false" (slack-go accepts both forms).
	payload, _ := json.Marshal(map[string]any{
		"token":                 verificationToken,
		"team_id":               TeamID,
		"team_domain":           TeamDomain,
		"channel_id":            c.Channel,
		"channel_name":          c.ChannelName,
		"user_id":               c.User,
		"user_name":             c.UserName,
		"command":               c.Command,
		"text":                  c.Text,
		"api_app_id":            AppID,
		"is_enterprise_install": "false",
		"response_url":          respURL,
		"trigger_id":            trigger,
	})
	return s.send("slash_commands", payload, true, false, 0, "", "", "")
}

// Mention sends an events_api envelope holding an app_mention event. It fills
// event_id, event_ts (the message ts) and event_time.
func (s *Server) Mention(m Mention) Envelope {
	s.require("Mention", m.User, m.Channel)
	s.mu.Lock()
	s.ensureUserLocked(m.User)
	s.ensureChannelLocked(m.Channel, "")
	if m.TS == "" {
		m.TS = s.nextTSLocked()
	}
	eventID := s.nextIDLocked("Ev")
	s.mu.Unlock()

	event := map[string]any{
		"type":          "app_mention",
		"user":          m.User,
		"text":          m.Text,
		"ts":            m.TS,
		"channel":       m.Channel,
		"event_ts":      m.TS,
		"team":          TeamID,
		"client_msg_id": newEnvelopeID(),
	}
	if m.ThreadTS != "" {
		event["thread_ts"] = m.ThreadTS
	}
	payload, _ := json.Marshal(map[string]any{
		"token":      verificationToken,
		"team_id":    TeamID,
		"api_app_id": AppID,
		"event":      event,
		"type":       "event_callback",
		"event_id":   eventID,
		"event_time": time.Now().Unix(),
		"authorizations": []map[string]any{{
			"enterprise_id": nil, "team_id": TeamID, "user_id": s.cfg.botUserID,
			"is_bot": true, "is_enterprise_install": false,
		}},
		"is_ext_shared_channel": false,
		"event_context":         "4-fake-" + eventID,
	})
	return s.send("events_api", payload, false, true, 0, "", "", eventID)
}

// BlockAction sends an interactive envelope holding a block_actions payload
// for one button press.
func (s *Server) BlockAction(a BlockAction) Envelope {
	s.require("BlockAction", a.User, a.Channel, a.ActionID)
	s.mu.Lock()
	u := s.ensureUserLocked(a.User)
	if id, ok := s.resolveChannelLocked(a.Channel); ok { // a user ID means the DM
		a.Channel = id
	}
	ch := s.ensureChannelLocked(a.Channel, "")
	var msg *Message
	if st := s.msgIndex[a.Channel+"/"+a.MessageTS]; st != nil {
		if st.deleted {
			s.violateLocked("block_actions: message %s in %s was deleted", a.MessageTS, a.Channel)
		} else {
			msg = &st.m
		}
	}
	buttonType := "button"
	style := ""
	if msg != nil {
		if a.ThreadTS == "" {
			a.ThreadTS = msg.ThreadTS
		}
		b, ok := findAction(msg.Blocks, a.ActionID, a.BlockID)
		if !ok {
			s.violateLocked("block_actions: message %s in %s has no element with action_id %q and block_id %q",
				a.MessageTS, a.Channel, a.ActionID, a.BlockID)
		} else {
			a.BlockID = b.blockID
			buttonType = b.typ
			style = b.style
			if a.Value == "" {
				a.Value = b.value
			}
			if a.Text == "" {
				a.Text = b.text
			}
		}
	}
	respURL := s.newResponseURLLocked(&responseURL{
		channel: a.Channel, user: a.User, messageTS: a.MessageTS, threadTS: a.ThreadTS,
	})
	trigger := s.triggerIDLocked()
	actionTS := s.nextTSLocked()
	container := map[string]any{
		"type": "message", "message_ts": a.MessageTS, "channel_id": a.Channel,
		"is_ephemeral": msg != nil && msg.Ephemeral,
	}
	if a.ThreadTS != "" {
		container["thread_ts"] = a.ThreadTS
	}
	action := map[string]any{
		"action_id": a.ActionID,
		"block_id":  a.BlockID, // always a string: slack-go routes on it
		"text":      map[string]any{"type": "plain_text", "text": a.Text, "emoji": true},
		"value":     a.Value,
		"type":      buttonType,
		"action_ts": actionTS,
	}
	if style != "" {
		action["style"] = style
	}
	p := map[string]any{
		"type":                  "block_actions",
		"user":                  map[string]any{"id": u.ID, "username": u.Name, "name": u.Name, "team_id": TeamID},
		"api_app_id":            AppID,
		"token":                 verificationToken,
		"container":             container,
		"trigger_id":            trigger,
		"team":                  map[string]any{"id": TeamID, "domain": TeamDomain},
		"enterprise":            nil,
		"is_enterprise_install": false,
		"channel":               map[string]any{"id": ch.ID, "name": ch.Name},
		"state":                 map[string]any{"values": map[string]any{}},
		"response_url":          respURL,
		"actions":               []any{action},
	}
	if msg == nil || !msg.Ephemeral { // Slack sends no message for ephemeral ones
		m := map[string]any{"type": "message", "ts": a.MessageTS, "text": ""}
		if msg != nil {
			m["text"] = msg.Text
			m["user"] = s.cfg.botUserID
			m["bot_id"] = BotID
			if len(msg.Blocks) > 0 {
				m["blocks"] = msg.Blocks
			}
		}
		if a.ThreadTS != "" {
			m["thread_ts"] = a.ThreadTS
		}
		p["message"] = m
	}
	s.mu.Unlock()
	payload, _ := json.Marshal(p)
	return s.send("interactive", payload, false, false, 0, "", "", "")
}

type foundAction struct{ blockID, typ, value, text, style string }

// findAction looks for an interactive element in actions blocks and section
// accessories. A block without block_id gets the one Slack would invent.
func findAction(raw json.RawMessage, actionID, blockID string) (foundAction, bool) {
	var blocks []map[string]any
	if json.Unmarshal(raw, &blocks) != nil {
		return foundAction{}, false
	}
	for i, b := range blocks {
		bid, _ := b["block_id"].(string)
		if bid == "" {
			bid = inventedBlockID(i)
		}
		if blockID != "" && bid != blockID {
			continue
		}
		var elems []any
		switch b["type"] {
		case "actions":
			elems, _ = b["elements"].([]any)
		case "section":
			if acc, ok := b["accessory"]; ok {
				elems = []any{acc}
			}
		}
		for _, e := range elems {
			el, _ := e.(map[string]any)
			if id, _ := el["action_id"].(string); id != actionID {
				continue
			}
			f := foundAction{blockID: bid}
			f.typ, _ = el["type"].(string)
			f.value, _ = el["value"].(string)
			f.style, _ = el["style"].(string)
			if t, ok := el["text"].(map[string]any); ok {
				f.text, _ = t["text"].(string)
			}
			return f, true
		}
	}
	return foundAction{}, false
}

func inventedBlockID(i int) string {
	h := sha1.Sum(fmt.Appendf(nil, "block-%d", i))
	return hex.EncodeToString(h[:])[:5]
}

func (s *Server) triggerIDLocked() string {
	return fmt.Sprintf("%d.%d.%s", 1700000000+s.nextSeqLocked(), 738474920, randomHex(8))
}

// ensureUserLocked returns the user, creating one named after the ID when it
// is new: a user who typed something exists in Slack.
func (s *Server) ensureUserLocked(id string) *User {
	if u, ok := s.users[id]; ok {
		return u
	}
	u := &User{ID: id, Name: strings.ToLower(id), RealName: id}
	s.users[id] = u
	return u
}

// ensureChannelLocked returns the channel, creating it when new.
func (s *Server) ensureChannelLocked(id, name string) *channel {
	if c, ok := s.channels[id]; ok {
		return c
	}
	if name == "" {
		name = strings.ToLower(id)
	}
	c := &channel{Channel: Channel{ID: id, Name: name, Created: time.Now().Unix()}, membersKnown: false}
	s.channels[id] = c
	return c
}

// require reports a test mistake: an envelope without its user, channel or
// action cannot come from Slack.
func (s *Server) require(what string, fields ...string) {
	for _, f := range fields {
		if f == "" {
			s.t.Errorf("slacktest: %s needs User, Channel (and ActionID for a BlockAction)", what)
			return
		}
	}
}
