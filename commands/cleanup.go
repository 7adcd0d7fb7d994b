package commands

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
)

// DockerPruner removes what Docker no longer uses (*docker.Client).
type DockerPruner interface {
	Prune(ctx context.Context, opts docker.PruneOptions) (docker.PruneReport, error)
}

// Cleanup is the runbook's clean-up (Database Connection Refused, "If disk
// space issue", and System Resource Optimization): old logs, old backups
// (and the leftovers of killed dumps), the bot's old security snapshots,
// and `docker system prune -f`.
type Cleanup struct {
	Docker  DockerPruner
	Backups *Backups // the backup directory and its prune rule
	// LogDir is the ShiftWise log directory the runbook cleans with
	// `find ./logs -name "*.log" -mtime +7 -delete` (SHIFTWISE_LOG_DIR).
	LogDir string
	// DataDir is the bot's own directory (SHIFTWISE_DATA_DIR), where
	// `runbook security` keeps its snapshots security_*.log: those older
	// than --snapshots-older are removed.
	DataDir string
	// PruneLabel restricts the Docker prune to objects with this label
	// (tests); empty prunes like `docker system prune -f`.
	PruneLabel string
	Now        func() time.Time
}

// How many deleted names a reply lists before "and N more".
const cleanupListMax = 20

func (c *Cleanup) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// CleanupResult is what one clean-up removed.
type CleanupResult struct {
	Logs       []string // paths relative to LogDir
	LogBytes   int64
	LogErr     error
	Backups    PruneResult
	BackupSize int64 // of the backups and leftover temporary files removed
	BackupsErr error
	Snapshots  []string // security_*.log names in DataDir
	SnapBytes  int64
	SnapErr    error
	Docker     docker.PruneReport
	DockerErr  error
}

// CleanupAges are how old what cleanup deletes must be.
type CleanupAges struct {
	Logs, Backups, Snapshots time.Duration
}

// Run cleans up: log files older than a.Logs, backups older than
// a.Backups (never the newest complete dump, and none at all when that
// would leave no complete dump) with the leftovers of killed dumps,
// security snapshots older than a.Snapshots, then the Docker prune. Each
// step runs even when an earlier one failed; the result holds every error.
func (c *Cleanup) Run(ctx context.Context, a CleanupAges) CleanupResult {
	return c.run(ctx, a, false)
}

// run cleans up, or with dryRun only finds the old logs, backups and
// snapshots (the Docker prune has no dry run: it is left out).
func (c *Cleanup) run(ctx context.Context, a CleanupAges, dryRun bool) CleanupResult {
	var r CleanupResult
	r.Logs, r.LogBytes, r.LogErr = c.oldLogs(a.Logs, dryRun)
	if c.Backups != nil {
		r.Backups, r.BackupsErr = c.Backups.Prune(ctx, a.Backups, dryRun)
		if r.Backups.Refused == "" {
			for _, d := range r.Backups.Deleted {
				r.BackupSize += d.Size
			}
			r.BackupSize += bkTempSize(r.Backups.Leftovers)
		}
	}
	r.Snapshots, r.SnapBytes, r.SnapErr = c.oldSnapshots(a.Snapshots, dryRun)
	if c.Docker != nil && !dryRun {
		r.Docker, r.DockerErr = c.Docker.Prune(ctx, docker.PruneOptions{Label: c.PruneLabel})
	}
	return r
}

// oldLogs deletes regular *.log files under LogDir last written before
// the cutoff; symbolic links are neither followed nor removed.
func (c *Cleanup) oldLogs(older time.Duration, dryRun bool) ([]string, int64, error) {
	if c.LogDir == "" {
		return nil, 0, nil
	}
	cutoff := c.now().Add(-older)
	var names []string
	var size int64
	err := filepath.WalkDir(c.LogDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == c.LogDir {
				return err
			}
			return nil // an unreadable subdirectory: leave it
		}
		if !d.Type().IsRegular() || !strings.HasSuffix(d.Name(), ".log") {
			return nil
		}
		info, err := d.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			return nil
		}
		if !dryRun {
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("delete %s: %w", path, err)
			}
		}
		rel, _ := filepath.Rel(c.LogDir, path)
		names = append(names, rel)
		size += info.Size()
		return nil
	})
	return names, size, err
}

// snapshotPattern names the snapshots `runbook security` writes in DataDir.
const snapshotPattern = "security_*.log"

// oldSnapshots deletes the security snapshots (regular files named
// security_*.log directly in DataDir, not in its subdirectories; links are
// left alone) last written before the cutoff.
func (c *Cleanup) oldSnapshots(older time.Duration, dryRun bool) ([]string, int64, error) {
	if c.DataDir == "" {
		return nil, 0, nil
	}
	entries, err := os.ReadDir(c.DataDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, 0, nil
		}
		return nil, 0, fmt.Errorf("list %s: %w", c.DataDir, err)
	}
	cutoff := c.now().Add(-older)
	var names []string
	var size int64
	for _, e := range entries {
		if ok, _ := filepath.Match(snapshotPattern, e.Name()); !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			continue
		}
		if !dryRun {
			if err := os.Remove(filepath.Join(c.DataDir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
				return names, size, fmt.Errorf("delete %s: %w", e.Name(), err)
			}
		}
		names = append(names, e.Name())
		size += info.Size()
	}
	return names, size, nil
}

// Command returns `cleanup`.
func (c *Cleanup) Command() bot.Command {
	return bot.Command{
		Name:    "cleanup",
		Summary: "delete old logs, backups and security snapshots and prune unused Docker data (never volumes)",
		Usage:   "[--logs-older 7d] [--backups-older 30d] [--snapshots-older 30d]",
		Help: "The runbook's disk clean-up: `find ./logs -name \"*.log\" -mtime +7 -delete` (SHIFTWISE_LOG_DIR); " +
			"`find ./backups -name \"*.sql\" -mtime +30 -delete` as `backup prune` does it: every backup file, but never the newest " +
			"complete dump, broken files (empty, truncated, not a dump) named as such and deleted once older than --backups-older, " +
			"none at all when that would leave no complete dump, and the hidden temporary files of killed dumps " +
			"(.shiftwise_*.sql.*.tmp that no running dump holds); the raw log snapshots `runbook security` keeps in " +
			"SHIFTWISE_DATA_DIR/security_*.log once older than --snapshots-older (default 30d); and " +
			"`docker system prune -f` through the Engine API: stopped containers (never the operated compose project's), unused " +
			"networks, dangling images and the build cache. Volumes are never touched, nor tagged images. The approval request " +
			"lists the logs, backups and snapshots it will delete and the backup it keeps; the reply names what was removed and " +
			"the space freed. Each age must be at least 1d.",
		Flags: []bot.Flag{
			{Name: "logs-older", Kind: bot.FlagDuration, Default: "7d", Usage: "delete *.log files older than this", MinDuration: minPruneAge, MaxDuration: maxPruneAge},
			{Name: "backups-older", Kind: bot.FlagDuration, Default: "30d", Usage: "delete backups older than this", MinDuration: minPruneAge, MaxDuration: maxPruneAge},
			{Name: "snapshots-older", Kind: bot.FlagDuration, Default: "30d", Usage: "delete security_*.log snapshots older than this", MinDuration: minPruneAge, MaxDuration: maxPruneAge},
		},
		Object: bkObj("cleanup"), Level: bot.Level2, Approval: true, Risk: bot.Destructive, Timeout: 10 * time.Minute,
		Preview: func(ctx context.Context, req bot.Request) (bot.Message, error) {
			return c.command(ctx, req, true)
		},
		Run: func(ctx context.Context, req bot.Request) (bot.Message, error) {
			return c.command(ctx, req, false)
		},
	}
}

func (c *Cleanup) command(ctx context.Context, req bot.Request, dryRun bool) (bot.Message, error) {
	a := CleanupAges{Logs: req.Args.Duration("logs-older"), Backups: req.Args.Duration("backups-older"), Snapshots: req.Args.Duration("snapshots-older")}
	if a.Logs < minPruneAge || a.Backups < minPruneAge || a.Snapshots < minPruneAge {
		return bot.Message{}, &bot.UsageError{Msg: "--logs-older, --backups-older and --snapshots-older must be at least 1d."}
	}
	m := c.message(c.run(ctx, a, dryRun), a, dryRun)
	return m, nil
}

func (c *Cleanup) message(r CleanupResult, a CleanupAges, dryRun bool) bot.Message {
	m := bot.Message{Title: "Cleanup", Status: bot.StatusOK}
	deleted := "deleted"
	if dryRun {
		deleted = "to delete"
	}
	step := func(name string, err error, value string) {
		ch := bot.Check{Name: name, Status: bot.StatusOK, Value: value}
		if err != nil {
			ch.Status, ch.Value = bot.StatusFailed, value+"; "+err.Error()
		}
		m.Checks = append(m.Checks, ch)
	}
	switch {
	case c.LogDir == "":
		step("logs", nil, "no log directory configured (SHIFTWISE_LOG_DIR)")
	case errors.Is(r.LogErr, os.ErrNotExist):
		step(fmt.Sprintf("logs older than %s", human(a.Logs)), nil, fmt.Sprintf("no log directory %s; nothing to do", c.LogDir))
	default:
		step(fmt.Sprintf("logs older than %s", human(a.Logs)), r.LogErr,
			fmt.Sprintf("%d *.log files %s in %s, %s", len(r.Logs), deleted, c.LogDir, bkSize(r.LogBytes)))
		cleanupList(&m, "logs "+deleted, r.Logs)
	}
	var notes []string
	if c.Backups != nil {
		name := fmt.Sprintf("backups older than %s", human(a.Backups))
		b := r.Backups
		switch {
		case errors.Is(r.BackupsErr, os.ErrNotExist):
			step(name, nil, "no backup directory yet; nothing to do")
		case b.Refused != "":
			m.Checks = append(m.Checks, bot.Check{Name: name, Status: bot.StatusWarn, Value: b.Refused})
		default:
			kept := len(b.Kept)
			value := fmt.Sprintf("%d %s", len(b.Deleted), deleted)
			if n := len(b.Leftovers); n > 0 {
				value += fmt.Sprintf(" and %d leftover temporary %s", n, bkPlural(n, "file", "files"))
			}
			value += ", " + bkSize(r.BackupSize)
			if b.Newest != nil {
				kept++
				value += fmt.Sprintf("; %d kept, the newest complete dump %s among them", kept, b.Newest.Name)
			} else {
				value += fmt.Sprintf("; %d kept; no complete dump in %s", kept, c.Backups.Dir)
			}
			step(name, r.BackupsErr, value)
			var names []string
			for _, d := range b.Deleted {
				n := d.Name
				if d.Problem != nil {
					n += " (broken: " + d.brokenKind() + ")"
				}
				names = append(names, n)
			}
			for _, t := range b.Leftovers {
				names = append(names, t.Name+" (leftover temporary file from an interrupted dump, "+bkSize(t.Size)+")")
			}
			cleanupList(&m, "backups "+deleted, names)
		}
		if !errors.Is(r.BackupsErr, os.ErrNotExist) {
			notes = append(notes, pruneNotes(b, dryRun)...)
		}
		if _, brokenKept := b.Broken(); len(brokenKept) > 0 && b.Refused == "" {
			var names []string
			for _, k := range brokenKept {
				names = append(names, fmt.Sprintf("%s (%s)", k.Name, k.brokenKind()))
			}
			m.Checks = append(m.Checks, bot.Check{Name: "broken backups", Status: bot.StatusWarn,
				Value: fmt.Sprintf("%d kept while younger than %s, not counted as dumps: %s", len(brokenKept), human(a.Backups), strings.Join(names, ", "))})
		}
	}
	if c.DataDir != "" {
		step(fmt.Sprintf("security snapshots older than %s", human(a.Snapshots)), r.SnapErr,
			fmt.Sprintf("%d %s %s in %s, %s", len(r.Snapshots), snapshotPattern, deleted, c.DataDir, bkSize(r.SnapBytes)))
		cleanupList(&m, "security snapshots "+deleted, r.Snapshots)
	}
	if c.Docker != nil && dryRun {
		step("docker prune (no volumes)", nil, "then `docker system prune -f`: stopped containers (not this stack's), unused networks, dangling images, build cache")
	}
	if c.Docker != nil && !dryRun {
		d := r.Docker
		v := fmt.Sprintf("%d stopped containers, %d networks, %d dangling images", len(d.Containers), len(d.Networks), len(d.Images))
		if d.BuildCacheSkipped {
			v += ", build cache left alone"
		} else {
			v += fmt.Sprintf(", %d build cache entries", d.BuildCache)
		}
		step("docker prune (no volumes)", r.DockerErr, v+fmt.Sprintf("; %s reclaimed", bkSize(int64(min(d.Reclaimed, 1<<62)))))
		var removed []string
		for _, id := range d.Containers {
			removed = append(removed, "container "+bkShort(id))
		}
		for _, n := range d.Networks {
			removed = append(removed, "network "+n)
		}
		for _, id := range d.Images {
			removed = append(removed, "image "+bkShort(strings.TrimPrefix(id, "sha256:")))
		}
		cleanupList(&m, "removed from Docker", removed)
	}
	m.Text = strings.Join(notes, "\n")
	for _, ch := range m.Checks {
		m.Status = bot.Worst(m.Status, ch.Status)
	}
	freed := r.LogBytes + r.BackupSize + r.SnapBytes + int64(min(r.Docker.Reclaimed, 1<<62))
	m.Summary = fmt.Sprintf("Cleanup: %s freed", bkSize(freed))
	if dryRun {
		m.Summary = fmt.Sprintf("Cleanup would free %s of logs, backups and snapshots, plus what Docker reclaims", bkSize(freed))
	}
	if m.Status == bot.StatusFailed {
		m.Summary += " (some steps failed)"
	}
	return m
}

func cleanupList(m *bot.Message, title string, names []string) {
	if len(names) == 0 {
		return
	}
	shown := names
	if len(shown) > cleanupListMax {
		shown = shown[:cleanupListMax]
	}
	text := strings.Join(shown, "\n")
	if len(names) > len(shown) {
		text += fmt.Sprintf("\n… and %d more", len(names)-len(shown))
	}
	m.Code = append(m.Code, bot.CodeBlock{Title: title, Text: text})
}

func bkShort(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
