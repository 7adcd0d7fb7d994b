package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// The bot's hottest Web API calls, chat.postMessage and chat.update, go
// out as slack-go builds them (the same form fields) but their answer is
// read for what the bot uses (ok, error, ts) instead of slack-go decoding
// the whole echoed message into Block Kit types: that decoding was a
// quarter of the bot's CPU under load (BenchmarkSlackAck), CPU taken
// from the cores that carry the acks. Errors are slack-go's own types,
// so the poster's 429 handling is unchanged.

// chatAnswer is the part of a chat.* answer the bot reads.
type chatAnswer struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
	TS    string `json:"ts"`
}

// postMessage posts a message and returns its ts.
func (b *Bot) postMessage(ctx context.Context, channel, text string, blocks []slack.Block, thread string) (string, error) {
	return b.chat(ctx, channel, blocks, slack.MsgOptionText(text, false), slack.MsgOptionTS(thread))
}

// updateMessage replaces the message at ts.
func (b *Bot) updateMessage(ctx context.Context, channel, ts, text string, blocks []slack.Block) error {
	_, err := b.chat(ctx, channel, blocks, slack.MsgOptionUpdate(ts), slack.MsgOptionText(text, false))
	return err
}

func (b *Bot) chat(ctx context.Context, channel string, blocks []slack.Block, opts ...slack.MsgOption) (string, error) {
	endpoint, values, err := slack.UnsafeApplyMsgOptions(b.o.BotToken, channel, b.apiURL, opts...)
	if err != nil {
		return "", err
	}
	method := strings.TrimPrefix(endpoint, b.apiURL)
	if len(blocks) > 0 {
		raw, err := json.Marshal(blocks)
		if err != nil {
			return "", fmt.Errorf("%s: blocks: %w", method, err)
		}
		values.Set("blocks", string(raw))
	}
	values.Del("token") // in the header, as for every other call
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(values.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+b.o.BotToken)
	resp, err := b.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusTooManyRequests {
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return "", &slack.RateLimitedError{RetryAfter: time.Duration(secs) * time.Second}
	}
	if resp.StatusCode != http.StatusOK {
		return "", slack.StatusCodeError{Code: resp.StatusCode, Status: resp.Status}
	}
	var a chatAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return "", fmt.Errorf("%s: reading the answer: %w", method, err)
	}
	if !a.OK {
		return "", slack.SlackErrorResponse{Err: a.Error}
	}
	return a.TS, nil
}
