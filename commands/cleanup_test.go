package commands

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

func bkWrite(t *testing.T, path string, size int, age time.Duration) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Repeat("x", size)), 0o600); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-age)
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

func bkExists(path string) bool { _, err := os.Lstat(path); return err == nil }

// TestCleanup: old *.log files and old backups go, new ones, other files,
// links and the newest backup stay; the Docker prune removes only this
// test's labelled stopped container, never the operated project's; the
// reply names them and the space.
func TestCleanup(t *testing.T) {
	day := 24 * time.Hour
	logs, bdir, outside := t.TempDir(), t.TempDir(), t.TempDir()
	bkWrite(t, filepath.Join(logs, "api.log"), 1000, 10*day)
	bkWrite(t, filepath.Join(logs, "nginx", "access.log"), 2000, 8*day)
	bkWrite(t, filepath.Join(logs, "today.log"), 10, time.Hour)
	bkWrite(t, filepath.Join(logs, "notes.txt"), 10, 30*day)
	bkWrite(t, filepath.Join(outside, "precious.log"), 10, 30*day)
	if err := os.Symlink(filepath.Join(outside, "precious.log"), filepath.Join(logs, "link.log")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(logs, "linkdir")); err != nil {
		t.Fatal(err)
	}
	// Complete dumps as far as backups.Inspect reads them, 3,000 bytes each.
	head, tail := "-- PostgreSQL database dump\n", "\n-- PostgreSQL database dump complete\n"
	dump := []byte(head + strings.Repeat("-", 3000-len(head)-len(tail)) + tail)
	bkPut(t, bdir, "shiftwise_20250101_000000.sql", dump, 60*day)
	bkPut(t, bdir, "shiftwise_20250201_000000.sql", dump, 45*day)
	bkPut(t, bdir, "shiftwise_20261101_000000.sql", dump, 5*day)

	b := make([]byte, 6)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	label := map[string]string{"shiftwise.cleanuptest": token}
	img := testenv.Get("SHIFTWISE_TEST_DATA_IMAGE")
	ours := dockertest.StartProject(t, dockertest.Service{Name: "postgres", Image: img, Cmd: []string{"true"}, Labels: label, NoWait: true})
	other := dockertest.StartProject(t, dockertest.Service{Name: "old", Image: img, Cmd: []string{"true"}, Labels: label, NoWait: true})
	dockertest.WaitState(t, ours.Service("postgres").ID, "exited", 30*time.Second)
	dockertest.WaitState(t, other.Service("old").ID, "exited", 30*time.Second)
	dc, err := docker.New(dockertest.Host(t), ours.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()

	c := &Cleanup{Docker: dc, Backups: &Backups{Dir: bdir}, LogDir: logs, PruneLabel: "shiftwise.cleanuptest=" + token}
	r := bkRun(t, bkEngine(t, c.Command()), "cleanup")
	text := bkText(r.Message)
	for _, cb := range r.Message.Code {
		text += cb.Title + ":\n" + cb.Text + "\n"
	}
	if r.Outcome != bot.OutcomeOK {
		t.Fatalf("cleanup: %s", text)
	}
	for path, want := range map[string]bool{
		filepath.Join(logs, "api.log"):                       false,
		filepath.Join(logs, "nginx", "access.log"):           false,
		filepath.Join(logs, "today.log"):                     true,
		filepath.Join(logs, "notes.txt"):                     true,
		filepath.Join(logs, "link.log"):                      true,
		filepath.Join(outside, "precious.log"):               true,
		filepath.Join(bdir, "shiftwise_20250101_000000.sql"): false,
		filepath.Join(bdir, "shiftwise_20250201_000000.sql"): false,
		filepath.Join(bdir, "shiftwise_20261101_000000.sql"): true,
	} {
		if bkExists(path) != want {
			t.Errorf("%s exists = %v, want %v", path, !want, want)
		}
	}
	for _, want := range []string{
		"2 *.log files deleted", "3.0 KB", "2 deleted", "1 kept", "kept: shiftwise_20261101_000000.sql — the newest complete dump", "1 stopped containers",
		"api.log", filepath.Join("nginx", "access.log"), "shiftwise_20250101_000000.sql", "container " + other.Service("old").ID[:12],
		"build cache left alone", "Cleanup: ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("reply lacks %q:\n%s", want, text)
		}
	}
	api := dockertest.Engine(t)
	ctx := context.Background()
	if _, err := api.ContainerInspect(ctx, other.Service("old").ID, client.ContainerInspectOptions{}); err == nil {
		t.Error("the labelled stopped container of another project is still there")
	}
	if _, err := api.ContainerInspect(ctx, ours.Service("postgres").ID, client.ContainerInspectOptions{}); err != nil {
		t.Errorf("the operated project's stopped container was removed: %v", err)
	}

	// A missing log directory is not an error; too short ages are refused.
	c2 := &Cleanup{Backups: &Backups{Dir: bdir}, LogDir: filepath.Join(logs, "nope")}
	e := bkEngine(t, c2.Command())
	if r := bkRun(t, e, "cleanup"); r.Outcome != bot.OutcomeOK || !strings.Contains(bkText(r.Message), "no log directory") {
		t.Errorf("missing log dir: %s", bkText(r.Message))
	}
	for _, line := range []string{"cleanup --logs-older 1h", "cleanup --backups-older 0s", "cleanup --logs-older soon", "cleanup now"} {
		if r := bkRun(t, e, line); r.Outcome != bot.OutcomeUsage {
			t.Errorf("%s: %s", line, bkText(r.Message))
		}
	}
	if cmd := c.Command(); cmd.PermissionObject(bot.Args{}) != "cleanup" || cmd.Level != bot.Level2 || !cmd.Approval {
		t.Errorf("cleanup defaults: %s %v %v", cmd.PermissionObject(bot.Args{}), cmd.Level, cmd.Approval)
	}
}
