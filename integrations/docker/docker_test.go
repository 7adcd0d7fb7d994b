package docker_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

func newClient(t *testing.T, project string) *docker.Client {
	t.Helper()
	c, err := docker.New(dockertest.Host(t), project)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func containers(t *testing.T, c *docker.Client) []docker.Container {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := c.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func byService(t *testing.T, list []docker.Container, service string) docker.Container {
	t.Helper()
	for _, c := range list {
		if c.Service == service {
			return c
		}
	}
	t.Fatalf("no container of service %q in %+v", service, list)
	return docker.Container{}
}

// post sends a control request to the testapp in a container.
func post(t *testing.T, base, path string, q url.Values) {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Post(base+path+"?"+q.Encode(), "text/plain", nil)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %s", path, resp.Status)
	}
}

func TestNewNeedsProject(t *testing.T) {
	if _, err := docker.New("", ""); err == nil {
		t.Fatal("New with an empty project name: want an error")
	}
	c, err := docker.New("", "shiftwise")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Project() != "shiftwise" {
		t.Fatalf("Project() = %q", c.Project())
	}
}

func TestContainersListsTheProjectsServices(t *testing.T) {
	t.Parallel()
	img := dockertest.Image(t)
	p := dockertest.StartProject(t,
		dockertest.Service{Name: "web", Ports: []string{"3000"}},
		dockertest.Service{Name: "api", Ports: []string{"3000"}},
	)
	// Another project with the same service names, and one whose name
	// starts with this project's: neither may show up.
	other := dockertest.StartProject(t, dockertest.Service{Name: "api", NoWait: true})
	prefixed := dockertest.StartNamedProject(t, p.Name+"-x", dockertest.Service{Name: "api", NoWait: true})

	list := containers(t, newClient(t, p.Name))
	if len(list) != 2 {
		t.Fatalf("got %d containers, want 2: %+v", len(list), list)
	}
	for i, want := range []string{"api", "web"} { // sorted by service
		got := list[i]
		pc := p.Service(want)
		if got.Service != want || got.ID != pc.ID || got.Name != pc.Name {
			t.Errorf("container %d = %s/%s/%s, want %s/%s/%s", i, got.Service, got.Name, got.ID, want, pc.Name, pc.ID)
		}
		if got.State != "running" || !strings.HasPrefix(got.Status, "Up") {
			t.Errorf("%s: state %q status %q, want running / Up...", want, got.State, got.Status)
		}
		if got.Health != "" {
			t.Errorf("%s: health %q without a healthcheck, want empty", want, got.Health)
		}
		if got.Image != img {
			t.Errorf("%s: image %q, want %q", want, got.Image, img)
		}
		if !strings.HasPrefix(got.Status, "Up ") || got.ExitCode != 0 {
			t.Errorf("%s: status %q exit %d, want Up and exit 0", want, got.Status, got.ExitCode)
		}
	}
	for _, foreign := range []*dockertest.Project{other, prefixed} {
		for _, c := range list {
			if c.ID == foreign.Containers[0].ID {
				t.Errorf("container %s of project %s listed for project %s", c.Name, foreign.Name, p.Name)
			}
		}
		// And the other project sees only its own.
		theirs := containers(t, newClient(t, foreign.Name))
		if len(theirs) != 1 || theirs[0].ID != foreign.Containers[0].ID {
			t.Errorf("project %s lists %+v, want only %s", foreign.Name, theirs, foreign.Containers[0].Name)
		}
	}
}

func TestContainersOfAnEmptyProject(t *testing.T) {
	t.Parallel()
	dockertest.Host(t)
	list := containers(t, newClient(t, dockertest.ProjectName(t)))
	if len(list) != 0 {
		t.Fatalf("a project without containers lists %+v", list)
	}
}

func TestContainersShowExitedStateAndExitCode(t *testing.T) {
	t.Parallel()
	p := dockertest.StartProject(t,
		dockertest.Service{Name: "job", Cmd: []string{"exit", "3"}},
		dockertest.Service{Name: "killed", Ports: []string{"3000"}},
		dockertest.Service{Name: "stopped", Ports: []string{"3000"}},
	)
	dockertest.WaitState(t, p.Service("job").ID, "exited", 30*time.Second)
	dockertest.Kill(t, p.Service("killed").ID)
	dockertest.Stop(t, p.Service("stopped").ID)

	list := containers(t, newClient(t, p.Name))
	for _, tc := range []struct {
		service string
		code    int
	}{{"job", 3}, {"killed", 137}, {"stopped", 0}} {
		c := byService(t, list, tc.service)
		if c.State != "exited" || c.ExitCode != tc.code {
			t.Errorf("%s: state %q exit %d, want exited %d", tc.service, c.State, c.ExitCode, tc.code)
		}
		if !strings.HasPrefix(c.Status, "Exited (") {
			t.Errorf("%s: status %q, want Exited (...)", tc.service, c.Status)
		}
	}
}

func TestContainersShowHealth(t *testing.T) {
	t.Parallel()
	p := dockertest.StartProject(t,
		dockertest.Service{Name: "good", Ports: []string{"3000"}, Health: dockertest.HTTPHealth()},
		dockertest.Service{Name: "bad", Ports: []string{"3000"}, Health: dockertest.HTTPHealth(),
			Env: []string{"DEMO_HEALTH_MODE=fail"}},
		dockertest.Service{Name: "turns", Ports: []string{"3000"}, Health: dockertest.HTTPHealth()},
	)
	c := newClient(t, p.Name)
	dockertest.WaitHealth(t, p.Service("good").ID, "healthy", 30*time.Second)
	dockertest.WaitHealth(t, p.Service("bad").ID, "unhealthy", 30*time.Second)
	dockertest.WaitHealth(t, p.Service("turns").ID, "healthy", 30*time.Second)

	list := containers(t, c)
	if got := byService(t, list, "good"); got.Health != "healthy" || !strings.Contains(got.Status, "(healthy)") {
		t.Errorf("good: health %q status %q, want healthy", got.Health, got.Status)
	}
	if got := byService(t, list, "bad"); got.Health != "unhealthy" || got.State != "running" {
		t.Errorf("bad: health %q state %q, want unhealthy and still running", got.Health, got.State)
	}

	// A healthy service that starts failing turns unhealthy.
	post(t, p.Service("turns").URL("3000"), "/control/health", url.Values{"mode": {"fail"}})
	dockertest.WaitHealth(t, p.Service("turns").ID, "unhealthy", 30*time.Second)
	if got := byService(t, containers(t, c), "turns"); got.Health != "unhealthy" {
		t.Errorf("turns: health %q after failing, want unhealthy", got.Health)
	}

	// A stopped container has no health, whatever Docker remembers.
	dockertest.Stop(t, p.Service("good").ID)
	if got := byService(t, containers(t, c), "good"); got.Health != "" || got.State != "exited" {
		t.Errorf("good after stop: health %q state %q, want no health, exited", got.Health, got.State)
	}
}

func isError(line []byte) bool { return bytes.Contains(bytes.ToLower(line), []byte("error")) }

// waitLines polls CountLogLines until it sees at least want lines (log
// lines reach the engine asynchronously) and returns the last counts.
func waitLines(t *testing.T, c *docker.Client, id string, since time.Time, match func([]byte) bool, want int) (total, matched int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		total, matched, err := c.CountLogLines(ctx, id, since, match)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if total >= want || time.Now().After(deadline) {
			return total, matched
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestCountLogLinesStdoutStderrAndSince(t *testing.T) {
	t.Parallel()
	p := dockertest.StartProject(t, dockertest.Service{
		Name:  "api",
		Ports: []string{"3000"},
		Cmd: []string{"serve", "-addr", ":3000",
			"-out", "started", "-out", "ERROR: boom", "-err", "an Error on stderr", "-err", "just a warning"},
	})
	api := p.Service("api")
	c := newClient(t, p.Name)

	var mu sync.Mutex
	var seen []string
	record := func(line []byte) bool {
		mu.Lock()
		seen = append(seen, string(line))
		mu.Unlock()
		return isError(line)
	}
	total, matched := waitLines(t, c, api.ID, time.Time{}, record, 4)
	if total != 4 || matched != 2 {
		t.Fatalf("start-up log: %d lines, %d matching, want 4 and 2", total, matched)
	}
	mu.Lock()
	slices.Sort(seen)
	want := []string{"ERROR: boom", "an Error on stderr", "just a warning", "started"}
	if !slices.Equal(seen, want) {
		t.Errorf("match saw %q, want %q (whole lines, no line endings)", seen, want)
	}
	mu.Unlock()

	since := time.Now()
	base := api.URL("3000")
	post(t, base, "/control/log", url.Values{"stream": {"stdout"}, "n": {"3"}, "text": {"request failed with error 500"}})
	post(t, base, "/control/log", url.Values{"stream": {"stderr"}, "n": {"2"}, "text": {"slow query"}})
	post(t, base, "/control/log", url.Values{"stream": {"stderr"}, "n": {"1"}, "level": {"error"}, "text": {"db down"}})

	total, matched = waitLines(t, c, api.ID, since, isError, 6)
	if total != 6 || matched != 4 {
		t.Errorf("since %v: %d lines, %d matching, want 6 and 4", since, total, matched)
	}
	total, matched = waitLines(t, c, api.ID, time.Time{}, isError, 10)
	if total != 10 || matched != 6 {
		t.Errorf("whole log: %d lines, %d matching, want 10 and 6", total, matched)
	}
	total, matched = waitLines(t, c, api.ID, time.Now().Add(time.Hour), isError, 0)
	if total != 0 || matched != 0 {
		t.Errorf("since the future: %d lines, %d matching, want none", total, matched)
	}
	total, matched = waitLines(t, c, api.ID, time.Time{}, nil, 10)
	if total != 10 || matched != 0 {
		t.Errorf("nil match: %d lines, %d matching, want 10 and 0", total, matched)
	}
}

func TestCountLogLinesWithTTY(t *testing.T) {
	t.Parallel()
	p := dockertest.StartProject(t, dockertest.Service{
		Name: "tty",
		Tty:  true,
		Cmd:  []string{"exit", "-out", "ERROR one", "-out", "fine", "-err", "error two", "0"},
	})
	id := p.Service("tty").ID
	dockertest.WaitState(t, id, "exited", 30*time.Second)
	c := newClient(t, p.Name)
	var seen []string
	total, matched := waitLines(t, c, id, time.Time{}, func(line []byte) bool {
		seen = append(seen, string(line))
		return isError(line)
	}, 3)
	if total != 3 || matched != 2 {
		t.Errorf("tty log: %d lines, %d matching, want 3 and 2", total, matched)
	}
	for _, s := range seen {
		if strings.ContainsAny(s, "\r\n") || strings.ContainsRune(s, 0) {
			t.Errorf("line %q still has a line ending or a stream header", s)
		}
	}
}

func TestCountLogLinesUnknownContainer(t *testing.T) {
	t.Parallel()
	c := newClient(t, dockertest.ProjectName(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := c.CountLogLines(ctx, "swtest-no-such-container", time.Time{}, isError); err == nil {
		t.Fatal("want an error for a container that does not exist")
	}
}

func TestDataRootAndPing(t *testing.T) {
	t.Parallel()
	c := newClient(t, "shiftwise")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	root, err := c.DataRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if root == "" || !filepath.IsAbs(root) {
		t.Fatalf("DataRoot = %q, want an absolute path", root)
	}
}

// calls are every engine call of the client, each returning its error.
var calls = map[string]func(context.Context, *docker.Client) error{
	"Ping": func(ctx context.Context, c *docker.Client) error { return c.Ping(ctx) },
	"Containers": func(ctx context.Context, c *docker.Client) error {
		_, err := c.Containers(ctx)
		return err
	},
	"DataRoot": func(ctx context.Context, c *docker.Client) error {
		_, err := c.DataRoot(ctx)
		return err
	},
	"CountLogLines": func(ctx context.Context, c *docker.Client) error {
		_, _, err := c.CountLogLines(ctx, "abc", time.Time{}, isError)
		return err
	},
}

// callWithGuard runs call and fails the test if it has not returned well
// after the context's deadline: a hang guard, not a timing assertion.
func callWithGuard(t *testing.T, c *docker.Client, timeout time.Duration, call func(context.Context, *docker.Client) error) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- call(ctx, c) }()
	select {
	case err := <-errc:
		return err
	case <-time.After(timeout + 2*time.Second):
		t.Fatalf("the call did not return within its %s deadline (+2s)", timeout)
		return nil
	}
}

func TestSilentDaemonFailsAtTheDeadline(t *testing.T) {
	t.Parallel()
	host := "tcp://" + testenv.NewSilent(t).Addr
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := docker.New(host, "shiftwise")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = callWithGuard(t, c, 500*time.Millisecond, call)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want a deadline error", err)
			}
			if !strings.Contains(err.Error(), "docker: ") {
				t.Errorf("err = %v, want it to say what was being done", err)
			}
		})
	}
}

func TestRefusedPortFailsWithoutWaiting(t *testing.T) {
	t.Parallel()
	addr := testenv.RefusedAddr(t) // nothing listens there
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := docker.New("tcp://"+addr, "shiftwise")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = callWithGuard(t, c, 10*time.Second, call)
			if err == nil {
				t.Fatal("want an error from a refused port")
			}
			// Refused, not timed out: it did not sit until the deadline.
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v: waited for the deadline instead of failing on the refusal", err)
			}
		})
	}
}

func TestScanLogsGivesTimesForIncrementalReads(t *testing.T) {
	t.Parallel()
	p := dockertest.StartProject(t, dockertest.Service{
		Name:  "api",
		Ports: []string{"3000"},
		Cmd:   []string{"serve", "-addr", ":3000", "-out", "first", "-err", "ERROR second"},
	})
	api := p.Service("api")
	c := newClient(t, p.Name)
	type line struct {
		ts   time.Time
		text string
	}
	scan := func(since time.Time) []line {
		var out []line
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.ScanLogs(ctx, api.ID, since, func(ts time.Time, l []byte) { out = append(out, line{ts, string(l)}) }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	waitLines(t, c, api.ID, time.Time{}, nil, 2)
	first := scan(time.Time{})
	if len(first) != 2 {
		t.Fatalf("start-up log: %+v, want 2 lines", first)
	}
	texts := []string{first[0].text, first[1].text}
	slices.Sort(texts)
	if !slices.Equal(texts, []string{"ERROR second", "first"}) {
		t.Errorf("texts %q: the timestamp must be cut off", texts)
	}
	for _, l := range first {
		if l.ts.IsZero() || time.Since(l.ts) > time.Minute {
			t.Errorf("line %q has time %v, want a recent engine timestamp", l.text, l.ts)
		}
	}
	last := first[0].ts
	if first[1].ts.After(last) {
		last = first[1].ts
	}
	post(t, api.URL("3000"), "/control/log", url.Values{"stream": {"stdout"}, "n": {"2"}, "text": {"later"}})
	waitLines(t, c, api.ID, time.Time{}, nil, 4)
	for _, l := range scan(last) {
		if l.ts.Before(last) {
			t.Errorf("since %v returned the older line %q at %v", last, l.text, l.ts)
		}
	}
	if n := len(scan(last.Add(time.Nanosecond))); n != 2 {
		t.Errorf("after the last seen line: %d lines, want the 2 new ones", n)
	}
}
