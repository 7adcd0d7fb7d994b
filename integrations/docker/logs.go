package docker

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
)

// maxMatchLine is how much of one log line is kept for match; the rest of a
// longer line is counted but not looked at.
const maxMatchLine = 64 << 10

// CountLogLines streams the container's stdout and stderr since `since`
// (all of it when since is zero) and counts the lines, and the lines for
// which match returns true (none when match is nil). It reads the log as a
// stream, so memory stays small however long the log is; match sees each
// line without its line ending, cut at 64 KiB, and must not keep it.
// A container without a TTY has its two streams demultiplexed; with a TTY
// the log is one raw stream. The context bounds the whole read; without a
// deadline a default of two minutes applies.
func (c *Client) CountLogLines(ctx context.Context, containerID string, since time.Time, match func(line []byte) bool) (total, matched int, err error) {
	return c.readLogs(ctx, containerID, since, false, false, match)
}

// ScanLogs streams the container's stdout and stderr since `since` with
// the engine's timestamps and calls fn with each line's time and text
// (without the timestamp, cut at 64 KiB; fn must not keep it). It lets a
// caller read a log incrementally: remember the last time seen and start
// from there next time. Deadlines as for CountLogLines.
func (c *Client) ScanLogs(ctx context.Context, containerID string, since time.Time, fn func(ts time.Time, line []byte)) error {
	return c.scan(ctx, containerID, since, false, fn)
}

// FollowLogs is ScanLogs that keeps following the log as it grows, like
// `docker logs --follow`, until ctx ends or the container stops (then it
// returns nil). Only ctx bounds it: no default deadline applies.
func (c *Client) FollowLogs(ctx context.Context, containerID string, since time.Time, fn func(ts time.Time, line []byte)) error {
	return c.scan(ctx, containerID, since, true, fn)
}

func (c *Client) scan(ctx context.Context, containerID string, since time.Time, follow bool, fn func(ts time.Time, line []byte)) error {
	_, _, err := c.readLogs(ctx, containerID, since, true, follow, func(line []byte) bool {
		stamp, text, ok := bytes.Cut(line, []byte{' '})
		ts, err := time.Parse(time.RFC3339Nano, string(stamp))
		if !ok || err != nil {
			ts, text = time.Time{}, line // not stamped: the engine's own notice
		}
		fn(ts, text)
		return false
	})
	return err
}

func (c *Client) readLogs(ctx context.Context, containerID string, since time.Time, timestamps, follow bool, match func(line []byte) bool) (total, matched int, err error) {
	opts := client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: timestamps, Follow: follow}
	if !since.IsZero() {
		opts.Since = since.UTC().Format(time.RFC3339Nano)
	}
	return c.streamLogs(ctx, containerID, opts, match)
}

// streamLogs reads the log as opts ask and hands match every line.
func (c *Client) streamLogs(ctx context.Context, containerID string, opts client.ContainerLogsOptions, match func(line []byte) bool) (total, matched int, err error) {
	if !opts.Follow {
		var cancel context.CancelFunc
		ctx, cancel = withDefaultTimeout(ctx, defaultLogsTimeout)
		defer cancel()
	}
	fail := func(what string, err error) (int, int, error) {
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%v)", ctxErr, err)
		}
		return 0, 0, fmt.Errorf("docker: %s of container %s: %w", what, shortID(containerID), err)
	}
	if err := c.negotiate(ctx); err != nil {
		return fail("read logs", err)
	}
	rc, err := c.api.ContainerLogs(ctx, containerID, opts)
	if err != nil {
		return fail("read logs", err)
	}
	defer rc.Close()

	stdout := &lineCounter{match: match}
	stderr := &lineCounter{match: match}
	br := bufio.NewReaderSize(rc, 32<<10)
	if multiplexed(br) {
		_, err = stdcopy.StdCopy(stdout, stderr, br)
	} else {
		_, err = io.Copy(stdout, br)
	}
	if err != nil {
		return fail("read logs", err)
	}
	stdout.flush()
	stderr.flush()
	return stdout.total + stderr.total, stdout.matched + stderr.matched, nil
}

// multiplexed tells a log stream of a container without a TTY, framed by
// the engine as [stream 0-2, 0, 0, 0, size(4)] + payload, from the raw
// stream of a TTY container, by peeking at its first frame header: no
// text log starts with a byte below 3 followed by three NULs. Peeking
// saves an inspect per container.
func multiplexed(br *bufio.Reader) bool {
	h, err := br.Peek(8)
	if err != nil {
		return false // fewer than 8 bytes: no frame, read it raw
	}
	return h[0] <= 2 && h[1] == 0 && h[2] == 0 && h[3] == 0
}

// lineCounter is an io.Writer that counts the lines written to it and the
// lines match accepts, holding at most one (truncated) line at a time.
type lineCounter struct {
	match          func([]byte) bool
	line           []byte // the current line, up to maxMatchLine bytes
	open           bool   // the current line has bytes not yet counted
	total, matched int
}

func (lc *lineCounter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		chunk, rest, eol := bytes.Cut(p, []byte{'\n'})
		if room := maxMatchLine - len(lc.line); room > 0 {
			lc.line = append(lc.line, chunk[:min(room, len(chunk))]...)
		}
		if len(chunk) > 0 {
			lc.open = true
		}
		if eol {
			lc.endLine()
		}
		p = rest
	}
	return n, nil
}

func (lc *lineCounter) endLine() {
	lc.total++
	if lc.match != nil && lc.match(bytes.TrimSuffix(lc.line, []byte{'\r'})) {
		lc.matched++
	}
	lc.line = lc.line[:0]
	lc.open = false
}

// flush counts a last line that has no line ending.
func (lc *lineCounter) flush() {
	if lc.open {
		lc.endLine()
	}
}
