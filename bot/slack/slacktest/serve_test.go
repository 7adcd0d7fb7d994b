package slacktest

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

func TestTextsFindsEveryTextInTheBlocks(t *testing.T) {
	blocks := []any{
		map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": "✅ Health"}},
		map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "a &lt;b&gt;"},
			"fields": []any{map[string]any{"type": "mrkdwn", "text": "*f1*"}}},
		map[string]any{"type": "actions", "elements": []any{map[string]any{"type": "button", "action_id": "x", "value": "v",
			"text":    map[string]any{"type": "plain_text", "text": "Approve"},
			"confirm": map[string]any{"text": map[string]any{"type": "plain_text", "text": "Sure?"}}}}},
		map[string]any{"type": "context", "elements": []any{map[string]any{"type": "mrkdwn", "text": "by <@U1>"}}},
	}
	raw, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(Texts(Message{Text: "fallback", Blocks: raw}), "\n")
	sort.Strings(got)
	want := []string{"*f1*", "Approve", "Sure?", "a &lt;b&gt;", "by <@U1>", "✅ Health"}
	sort.Strings(want)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Texts = %q; want %q (the fallback text is not a block's)", got, want)
	}
	if s := Texts(Message{Text: "only"}); s != "" {
		t.Errorf("no blocks: %q", s)
	}
}
