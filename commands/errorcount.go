package commands

import (
	"context"
	"sync"
	"time"
)

// LogScanner reads a container's log lines with their times: once up to
// now (ScanLogs), or following the log as it grows (FollowLogs).
type LogScanner interface {
	ScanLogs(ctx context.Context, containerID string, since time.Time, fn func(ts time.Time, line []byte)) error
	FollowLogs(ctx context.Context, containerID string, since time.Time, fn func(ts time.Time, line []byte)) error
}

// errorCounter counts error lines per container within a sliding window.
//
// The first count of a container reads its log for the window; later
// counts read only what is new. Once follow has been enabled (a bot that
// keeps running), a container that was read once is then followed: its
// new lines are counted as the engine writes them and a health check only
// adds up buckets. That matters because the engine reads a log file from
// its start whatever `since` asks, so re-reading costs the daemon work
// that grows with the day's traffic. Matches are kept in one-minute
// buckets (at most window/1m per container), so memory stays bounded and
// the window's far edge is exact to the minute.
type errorCounter struct {
	mu      sync.Mutex
	follow  context.Context // nil: no followers (one-shot mode, tests)
	cursors map[string]*logCursor
}

type logCursor struct {
	mu        sync.Mutex // held by one reader, or by the follower per line
	last      time.Time  // time of the newest line counted
	buckets   map[int64]int
	seen      time.Time          // last health run that listed this container
	following bool               // a follower is live and counting from last
	stop      context.CancelFunc // ends the follower
}

// startFollowing lets counts hand containers over to followers living
// until ctx ends.
func (e *errorCounter) startFollowing(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.follow = ctx
}

// count returns the error lines of container id in (now-window, now].
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
	follow := e.follow
	e.mu.Unlock()

	c.mu.Lock()
	defer c.mu.Unlock()
	from := now.Add(-window)
	if !c.following {
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
		if follow != nil && follow.Err() == nil {
			e.startFollower(follow, logs, id, c, match)
		}
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

// startFollower follows the log from c.last on; c.mu is held.
func (e *errorCounter) startFollower(ctx context.Context, logs LogScanner, id string, c *logCursor, match func([]byte) bool) {
	fctx, stop := context.WithCancel(ctx)
	c.following, c.stop = true, stop
	since := c.last
	if since.IsZero() {
		since = time.Now()
	}
	go func() {
		defer stop()
		_ = logs.FollowLogs(fctx, id, since, func(ts time.Time, line []byte) {
			hit := match(line) // outside the lock: match is the costly part
			c.mu.Lock()
			if !ts.IsZero() && ts.After(c.last) {
				c.last = ts
				if hit {
					c.buckets[minute(ts)]++
				}
			}
			c.mu.Unlock()
		})
		// The stream ended (container stopped, engine restarted, ctx):
		// the next count reads the gap and follows again.
		c.mu.Lock()
		c.following = false
		c.mu.Unlock()
	}()
}

// forget drops the cursors (and stops the followers) of containers not
// listed since before cutoff: removed or recreated containers get new IDs.
func (e *errorCounter) forget(cutoff time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, c := range e.cursors {
		if c.seen.Before(cutoff) {
			if c.stop != nil {
				c.stop()
			}
			delete(e.cursors, id)
		}
	}
}

func minute(t time.Time) int64 { return t.Unix() / 60 }
