package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
)

// Exec bounds.
const (
	// DefaultExecTimeout applies when the caller's context has no deadline.
	DefaultExecTimeout = 30 * time.Minute
	// DefaultStderrLimit is how much of an exec's stderr is kept.
	DefaultStderrLimit = 64 << 10
	// execExitWait bounds waiting for the engine to record the exit code
	// after the output stream has ended.
	execExitWait = 10 * time.Second
)

// ErrNoService means the compose project has no container for the service
// named: the name is not one of the live project's services.
var ErrNoService = errors.New("no such service in the compose project")

// ErrNotRunning means the service's container exists but is not running.
var ErrNotRunning = errors.New("service container is not running")

// ExecOptions are the streams and settings of one Exec.
type ExecOptions struct {
	// Stdin, when set, is copied to the process's standard input, which is
	// closed at its end (psql < file).
	Stdin io.Reader
	// Stdout receives the process's standard output as it arrives; nil
	// discards it.
	Stdout io.Writer
	// StderrLimit caps the stderr kept in the result (DefaultStderrLimit
	// when 0); the rest is counted and dropped.
	StderrLimit int
	// Env adds KEY=value pairs to the process's environment (never shown).
	Env []string
	// User runs the process as this user ("" = the container's user).
	User string
}

// ExecResult is how an Exec ended.
type ExecResult struct {
	Container string // name of the container it ran in
	ExitCode  int
	Stderr    string // the first StderrLimit bytes of stderr
	// StderrTruncated says stderr was longer than what is kept.
	StderrTruncated bool
	StdoutBytes     int64
	Duration        time.Duration
}

// ServiceContainer returns the running container of service in the live
// compose project: ErrNoService when the project has none (the name is
// unknown), ErrNotRunning when it is stopped. With several containers
// (scaled) a running one is chosen.
func (c *Client) ServiceContainer(ctx context.Context, service string) (Container, error) {
	list, err := c.Containers(ctx)
	if err != nil {
		return Container{}, err
	}
	var found *Container
	for i := range list {
		if list[i].Service != service {
			continue
		}
		if list[i].State == "running" {
			return list[i], nil
		}
		found = &list[i]
	}
	if found == nil {
		return Container{}, fmt.Errorf("service %q of compose project %s: %w", service, c.project, ErrNoService)
	}
	return Container{}, fmt.Errorf("service %q (container %s is %s): %w", service, found.Name, found.State, ErrNotRunning)
}

// Exec runs argv, a fixed argument vector (no shell), inside the running
// container of the project's service, like `docker-compose exec -T`.
// Stdout is streamed to opts.Stdout, stdin fed from opts.Stdin, stderr kept
// (bounded) in the result with the exit code. A non-zero exit is not an
// error: the result says it. The error is for what kept the command from
// running or from finishing: an unknown or stopped service, the engine, a
// failing writer, or ctx ending (DefaultExecTimeout applies when ctx has
// no deadline). When ctx ends the streams are cut: the process loses its
// stdin and stdout, which ends pg_dump and psql.
func (c *Client) Exec(ctx context.Context, service string, argv []string, opts ExecOptions) (ExecResult, error) {
	ctx, cancel := withDefaultTimeout(ctx, DefaultExecTimeout)
	defer cancel()
	start := time.Now()
	if len(argv) == 0 || argv[0] == "" {
		return ExecResult{}, errors.New("docker: exec: empty command")
	}
	if err := c.negotiate(ctx); err != nil {
		return ExecResult{}, fmt.Errorf("docker: exec in %s: %w", service, err)
	}
	ct, err := c.ServiceContainer(ctx, service)
	if err != nil {
		return ExecResult{}, fmt.Errorf("docker: exec in %s: %w", service, err)
	}
	res, err := c.ExecIn(ctx, ct.ID, argv, opts)
	res.Container = ct.Name
	res.Duration = time.Since(start)
	if err != nil {
		return res, fmt.Errorf("docker: exec %s in %s (%s): %w", argv[0], service, ct.Name, err)
	}
	return res, nil
}

// ExecIn is Exec in a container given by ID, for callers that resolved it
// already. Errors are not prefixed with the container.
func (c *Client) ExecIn(ctx context.Context, containerID string, argv []string, opts ExecOptions) (ExecResult, error) {
	ctx, cancel := withDefaultTimeout(ctx, DefaultExecTimeout)
	defer cancel()
	start := time.Now()
	res := ExecResult{ExitCode: -1}
	if err := c.negotiate(ctx); err != nil {
		return res, err
	}
	created, err := c.api.ExecCreate(ctx, containerID, client.ExecCreateOptions{
		User:         opts.User,
		AttachStdin:  opts.Stdin != nil,
		AttachStdout: true,
		AttachStderr: true,
		Env:          opts.Env,
		Cmd:          argv,
	})
	if err != nil {
		return res, fmt.Errorf("create: %w", err)
	}
	att, err := c.api.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		return res, fmt.Errorf("start: %w", err)
	}
	conn := att.HijackedResponse
	// The hijacked connection is not tied to ctx: cut it when ctx ends.
	stop := context.AfterFunc(ctx, conn.Close)
	defer stop()
	defer conn.Close()

	var wg sync.WaitGroup
	var stdinErr error
	if opts.Stdin != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := io.Copy(conn.Conn, opts.Stdin)
			if err != nil {
				stdinErr = fmt.Errorf("feed stdin: %w", err)
				conn.Close() // cut the process off rather than end its input early
				return
			}
			_ = conn.CloseWrite()
		}()
	}

	stdout := &countingWriter{w: opts.Stdout}
	if stdout.w == nil {
		stdout.w = io.Discard
	}
	limit := opts.StderrLimit
	if limit <= 0 {
		limit = DefaultStderrLimit
	}
	stderr := &boundedBuffer{limit: limit}
	_, copyErr := stdcopy.StdCopy(stdout, stderr, conn.Reader)
	// The output has ended: the process is gone (or the stream broke). A
	// process may end without reading all its input (psql stopping at an
	// error, head): stop feeding it, and let the exit code tell.
	conn.Close()
	wg.Wait()
	if copyErr == nil {
		stdinErr = nil
	}
	res.StdoutBytes = stdout.n
	res.Stderr, res.StderrTruncated = stderr.buf.String(), stderr.dropped > 0
	res.Duration = time.Since(start)

	if ctxErr := ctx.Err(); ctxErr != nil {
		return res, fmt.Errorf("cut off after %s: %w", res.Duration.Round(time.Millisecond), ctxErr)
	}
	if stdout.err != nil {
		return res, fmt.Errorf("write output: %w", stdout.err)
	}
	if copyErr != nil {
		return res, fmt.Errorf("read output: %w", copyErr)
	}
	if stdinErr != nil {
		return res, stdinErr
	}
	code, err := c.execExitCode(ctx, created.ID)
	if err != nil {
		return res, err
	}
	res.ExitCode = code
	res.Duration = time.Since(start)
	return res, nil
}

// execExitCode waits for the engine to record the exit of exec id: the
// output stream can end a moment before the exec is marked finished.
func (c *Client) execExitCode(ctx context.Context, id string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, execExitWait)
	defer cancel()
	delay := 5 * time.Millisecond
	for {
		in, err := c.api.ExecInspect(ctx, id, client.ExecInspectOptions{})
		if err != nil {
			return -1, fmt.Errorf("inspect: %w", err)
		}
		if !in.Running {
			return in.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("inspect: still running after its output ended: %w", ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

// countingWriter counts what passes and remembers the writer's first
// error (StdCopy stops on it).
type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (cw *countingWriter) Write(p []byte) (int, error) {
	n, err := cw.w.Write(p)
	cw.n += int64(n)
	if err != nil && cw.err == nil {
		cw.err = err
	}
	return n, err
}

// boundedBuffer keeps the first limit bytes written and counts the rest.
type boundedBuffer struct {
	buf     bytes.Buffer
	limit   int
	dropped int64
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	room := b.limit - b.buf.Len()
	if room >= len(p) {
		return b.buf.Write(p)
	}
	if room > 0 {
		b.buf.Write(p[:room])
	}
	b.dropped += int64(len(p) - max(room, 0))
	return len(p), nil
}
