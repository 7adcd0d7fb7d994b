package slacktest

import (
	"fmt"
	"unicode/utf8"
)

// Slack's documented message limits.
const (
	maxBlocks          = 50
	maxSectionText     = 3000
	maxSectionFields   = 10
	maxFieldText       = 2000
	maxHeaderText      = 150
	maxButtonText      = 75
	maxButtonValue     = 2000
	maxIDLength        = 255
	maxActionsElements = 25
	maxContextElements = 10
	maxMessageText     = 40000
)

// checkMessageLocked checks a message against Slack's limits, records every
// breach as a violation, and returns the text as Slack keeps it (truncated to
// 40,000 characters) and the error Slack answers ("" when it accepts it).
func (s *Server) checkMessageLocked(where, text string, blocks []map[string]any) (string, string) {
	if n := utf8.RuneCountInString(text); n > maxMessageText {
		s.violateLocked("%s: text of %d characters (Slack truncates at %d)", where, n, maxMessageText)
		text = string([]rune(text)[:maxMessageText])
	}
	var problems []string // each fails the call with invalid_blocks
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if len(blocks) > maxBlocks {
		bad("%d blocks (Slack allows %d)", len(blocks), maxBlocks)
	}
	seen := map[string]bool{}
	for i, b := range blocks {
		typ, _ := b["type"].(string)
		bid, hasID := b["block_id"].(string)
		switch {
		case hasID && utf8.RuneCountInString(bid) > maxIDLength:
			bad("block %d: block_id of %d characters (max %d)", i, utf8.RuneCountInString(bid), maxIDLength)
		case hasID && seen[bid]:
			bad("block %d: duplicate block_id %q", i, bid)
		}
		if hasID {
			seen[bid] = true
		}
		switch typ {
		case "section":
			if n := textLen(b["text"]); n > maxSectionText {
				bad("block %d: section text of %d characters (max %d)", i, n, maxSectionText)
			}
			fields, _ := b["fields"].([]any)
			if len(fields) > maxSectionFields {
				bad("block %d: %d section fields (max %d)", i, len(fields), maxSectionFields)
			}
			for j, f := range fields {
				if n := textLen(f); n > maxFieldText {
					bad("block %d: section field %d of %d characters (max %d)", i, j, n, maxFieldText)
				}
			}
			if acc, ok := b["accessory"].(map[string]any); ok {
				checkElement(i, acc, bad)
			}
		case "header":
			if n := textLen(b["text"]); n > maxHeaderText {
				bad("block %d: header text of %d characters (max %d)", i, n, maxHeaderText)
			}
		case "actions":
			if !hasID || bid == "" {
				// Slack invents a block_id and accepts the message, but the
				// bot then cannot route the press by block_id.
				s.violateLocked("%s: block %d: actions block without block_id", where, i)
			}
			elems, _ := b["elements"].([]any)
			if len(elems) > maxActionsElements {
				bad("block %d: %d actions elements (max %d)", i, len(elems), maxActionsElements)
			}
			ids := map[string]bool{}
			for _, e := range elems {
				el, _ := e.(map[string]any)
				checkElement(i, el, bad)
				if id, _ := el["action_id"].(string); id != "" {
					if ids[id] {
						s.violateLocked("%s: block %d: duplicate action_id %q", where, i, id)
					}
					ids[id] = true
				}
			}
		case "context":
			if elems, _ := b["elements"].([]any); len(elems) > maxContextElements {
				bad("block %d: %d context elements (max %d)", i, len(elems), maxContextElements)
			}
		}
	}
	if len(problems) == 0 {
		return text, ""
	}
	for _, p := range problems {
		s.violateLocked("%s: %s", where, p)
	}
	return text, "invalid_blocks"
}

func checkElement(block int, el map[string]any, bad func(string, ...any)) {
	if id, _ := el["action_id"].(string); utf8.RuneCountInString(id) > maxIDLength {
		bad("block %d: action_id of %d characters (max %d)", block, utf8.RuneCountInString(id), maxIDLength)
	}
	if el["type"] != "button" {
		return
	}
	if n := textLen(el["text"]); n > maxButtonText {
		bad("block %d: button text of %d characters (max %d)", block, n, maxButtonText)
	}
	if v, _ := el["value"].(string); utf8.RuneCountInString(v) > maxButtonValue {
		bad("block %d: button value of %d characters (max %d)", block, utf8.RuneCountInString(v), maxButtonValue)
	}
}

// textLen is the length in characters of a text object's text.
func textLen(v any) int {
	obj, _ := v.(map[string]any)
	t, _ := obj["text"].(string)
	return utf8.RuneCountInString(t)
}
