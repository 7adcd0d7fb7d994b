package bot

import (
	"context"
	"sync"
)

// ProgressFunc shows an interim state of a running command: Slack replaces
// its progress message with it (chat.update, one message updated in place),
// the console prints it. It must not block for long; transports coalesce.
type ProgressFunc func(Message)

type progressKey struct{}

// withProgress gives a command's context the transport's progress sink,
// redacted and serialized by the Engine.
func (e *Engine) withProgress(ctx context.Context, req Request) context.Context {
	if req.Progress == nil {
		return ctx
	}
	var mu sync.Mutex
	sink := req.Progress
	return context.WithValue(ctx, progressKey{}, ProgressFunc(func(m Message) {
		m = e.redact(m)
		mu.Lock()
		defer mu.Unlock()
		sink(m)
	}))
}

// Report shows m as the running command's progress where the request came
// from (Slack: the progress message, updated in place; console: printed).
// Without a transport that shows progress it does nothing. Commands call
// it for long work: each step of a deploy, a followed log, a VACUUM.
func Report(ctx context.Context, m Message) {
	if f, ok := ctx.Value(progressKey{}).(ProgressFunc); ok {
		f(m)
	}
}
