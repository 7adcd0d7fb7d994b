package docker

import (
	"bytes"
	"context"
	"strconv"
	"time"

	"github.com/moby/moby/client"
)

// TailLogs is ScanLogs limited to the last tail lines of the window (all
// of them when tail <= 0), as `docker logs --since … --tail N`: the engine
// cuts the log, so only those lines travel. Deadlines as for ScanLogs.
func (c *Client) TailLogs(ctx context.Context, containerID string, since time.Time, tail int, fn func(ts time.Time, line []byte)) error {
	opts := client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true}
	if !since.IsZero() {
		opts.Since = since.UTC().Format(time.RFC3339Nano)
	}
	if tail > 0 {
		opts.Tail = strconv.Itoa(tail)
	}
	_, _, err := c.streamLogs(ctx, containerID, opts, func(line []byte) bool {
		stamp, text, ok := bytes.Cut(line, []byte{' '})
		ts, err := time.Parse(time.RFC3339Nano, string(stamp))
		if !ok || err != nil {
			ts, text = time.Time{}, line
		}
		fn(ts, text)
		return false
	})
	return err
}
