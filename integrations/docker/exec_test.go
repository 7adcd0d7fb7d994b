package docker_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// shellProject starts a throwaway project whose "box" service is the demo
// data image idling (it has bash, cat and head), and a stopped "gone".
func shellProject(t *testing.T) (*docker.Client, dockertest.Container) {
	t.Helper()
	img := testenv.Get("SHIFTWISE_TEST_DATA_IMAGE")
	p := dockertest.StartProject(t,
		dockertest.Service{Name: "box", Image: img, Cmd: []string{"sleep", "600"}, NoWait: true},
		dockertest.Service{Name: "gone", Image: img, Cmd: []string{"true"}, NoWait: true},
	)
	dockertest.WaitState(t, p.Service("gone").ID, "exited", 30*time.Second)
	return newClient(t, p.Name), p.Service("box")
}

func TestExec(t *testing.T) {
	c, box := shellProject(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("streams, exit code and stderr", func(t *testing.T) {
		var out bytes.Buffer
		res, err := c.Exec(ctx, "box", []string{"bash", "-c", "echo out1; echo err1 >&2; echo out2; exit 3"}, docker.ExecOptions{Stdout: &out})
		if err != nil {
			t.Fatal(err)
		}
		if out.String() != "out1\nout2\n" || res.Stderr != "err1\n" || res.ExitCode != 3 || res.StdoutBytes != 10 {
			t.Fatalf("stdout %q, result %+v", out.String(), res)
		}
		if res.Container != box.Name {
			t.Errorf("ran in %q, want %q", res.Container, box.Name)
		}
	})
	t.Run("stdin", func(t *testing.T) {
		in := strings.Repeat("line of input\n", 100000) // 1.4 MB, more than any pipe buffer
		var out bytes.Buffer
		res, err := c.Exec(ctx, "box", []string{"cat"}, docker.ExecOptions{Stdin: strings.NewReader(in), Stdout: &out})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("%+v %v", res, err)
		}
		if out.String() != in {
			t.Fatalf("cat gave back %d bytes of %d", out.Len(), len(in))
		}
	})
	t.Run("process ends before reading all stdin", func(t *testing.T) {
		sctx, scancel := context.WithTimeout(ctx, 20*time.Second)
		defer scancel()
		in := strings.NewReader(strings.Repeat("x", 64<<20)) // far more than any socket buffer
		var out bytes.Buffer
		res, err := c.Exec(sctx, "box", []string{"head", "-c", "10"}, docker.ExecOptions{Stdin: in, Stdout: &out})
		if err != nil || res.ExitCode != 0 || out.String() != "xxxxxxxxxx" {
			t.Fatalf("%q %+v %v", out.String(), res, err)
		}
	})
	t.Run("large stdout", func(t *testing.T) {
		var n countWriter
		res, err := c.Exec(ctx, "box", []string{"head", "-c", "20000000", "/dev/zero"}, docker.ExecOptions{Stdout: &n})
		if err != nil || res.ExitCode != 0 || n != 20000000 || res.StdoutBytes != 20000000 {
			t.Fatalf("%d bytes, %+v %v", n, res, err)
		}
	})
	t.Run("stderr is bounded", func(t *testing.T) {
		res, err := c.Exec(ctx, "box", []string{"bash", "-c", "head -c 100000 /dev/zero | tr '\\0' x >&2"}, docker.ExecOptions{StderrLimit: 10})
		if err != nil || res.Stderr != "xxxxxxxxxx" || !res.StderrTruncated {
			t.Fatalf("%q truncated=%v %v", res.Stderr, res.StderrTruncated, err)
		}
	})
	t.Run("failing writer", func(t *testing.T) {
		_, err := c.Exec(ctx, "box", []string{"head", "-c", "1000000", "/dev/zero"}, docker.ExecOptions{Stdout: failWriter{}})
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		dctx, dcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer dcancel()
		_, err := c.Exec(dctx, "box", []string{"sleep", "30"}, docker.ExecOptions{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want the deadline", err)
		}
	})
	t.Run("missing program", func(t *testing.T) {
		res, err := c.Exec(ctx, "box", []string{"no-such-program"}, docker.ExecOptions{})
		if err == nil && res.ExitCode == 0 {
			t.Fatalf("a missing program ran: %+v", res)
		}
	})
	t.Run("unknown service", func(t *testing.T) {
		_, err := c.Exec(ctx, "nosuch", []string{"true"}, docker.ExecOptions{})
		if !errors.Is(err, docker.ErrNoService) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("stopped service", func(t *testing.T) {
		_, err := c.Exec(ctx, "gone", []string{"true"}, docker.ExecOptions{})
		if !errors.Is(err, docker.ErrNotRunning) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("empty argv", func(t *testing.T) {
		if _, err := c.Exec(ctx, "box", nil, docker.ExecOptions{}); err == nil {
			t.Fatal("empty argv ran")
		}
	})
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }
