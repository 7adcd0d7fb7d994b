package commands

import (
	"context"
	"sync"
	"time"
)

// LogScanner reads a container's log lines with their times.
type LogScanner interface {
	ScanLogs(ctx context.Context, containerID string, since time.Time, fn func(ts time.Time, line []byte)) error
}

// errorCounter counts error lines per container within a sliding window,
// reading each log only from where it stopped last time. A day of logs is
// read once; after that a health check reads what is new, so its cost no
// longer grows with the traffic of the day. Matches are kept in one-minute
// buckets (at most window/1m per container), so the window's far edge is
// exact to the minute.
type errorCounter struct {
	mu      sync.Mutex
	cursors map[string]*logCursor // by container ID
}

type logCursor struct {
	mu      sync.Mutex // one reader per container at a time
	last    time.Time  // time of the newest line read
	buckets map[int64]int
	seen    time.Time // last health run that listed this container
}

// count returns the error lines of container id in (now-window, now],
// reading the log increment since the last call.
func (e *errorCounter) count(ctx context.Context, logs LogScanner, id string, now time.Time, window time.Duration, match func([]byte) bool) (int, error) {
	e.mu.Lock()
	if e.cursors == nil {
		e.cursors = map[string]*logCursor{}
	}
	c := e.cursors[id]
	if c == nil {
		c = &logCursor{buckets: map[int64]int{}}
		e.cursors[id] = c
	}
	c.seen = now
	e.mu.Unlock()

	c.mu.Lock()
	defer c.mu.Unlock()
	from := now.Add(-window)
	since := from
	if c.last.After(since) {
		since = c.last
	}
	last := c.last
	added := map[int64]int{}
	err := logs.ScanLogs(ctx, id, since, func(ts time.Time, line []byte) {
		if ts.IsZero() || !ts.After(c.last) {
			return // read before (the engine's since is inclusive), or unstamped
		}
		if ts.After(last) {
			last = ts
		}
		if match(line) {
			added[minute(ts)]++
		}
	})
	if err != nil {
		// A partial read is not committed: the next run reads it again
		// rather than count a line twice or skip one.
		return 0, err
	}
	c.last = last
	for m, n := range added {
		c.buckets[m] += n
	}
	total := 0
	for m, n := range c.buckets {
		if m < minute(from) {
			delete(c.buckets, m)
			continue
		}
		total += n
	}
	return total, nil
}

// forget drops the cursors of containers not listed since before cutoff
// (removed or recreated containers get new IDs).
func (e *errorCounter) forget(cutoff time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, c := range e.cursors {
		if c.seen.Before(cutoff) {
			delete(e.cursors, id)
		}
	}
}

func minute(t time.Time) int64 { return t.Unix() / 60 }
