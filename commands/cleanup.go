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
	"github.com/shiftwise/shiftwise-bot/integrations/host"
)

// DockerPruner removes what Docker no longer uses (*docker.Client).
type DockerPruner interface {
	Prune(ctx context.Context, opts docker.PruneOptions) (docker.PruneReport, error)
}

// Cleanup is the runbook's clean-up (Database Connection Refused, "If disk
// space issue", and System Resource Optimization): old logs, old backups,
// and `docker system prune -f`.
type Cleanup struct {
	Docker  DockerPruner
	Backups *Backups // the backup directory and its prune rule
	// LogDir is the ShiftWise log directory the runbook cleans with
	// `find ./logs -name "*.log" -mtime +7 -delete` (SHIFTWISE_LOG_DIR).
	LogDir string
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
	Backups    []string
	BackupSize int64
	BackupsErr error
	Kept       int
	Docker     docker.PruneReport
	DockerErr  error
}

// Run cleans up: log files older than logAge, backups older than
// backupAge (never the newest), then the Docker prune. Each step runs even
// when an earlier one failed; the result holds every error.
func (c *Cleanup) Run(ctx context.Context, logAge, backupAge time.Duration) CleanupResult {
	return c.run(ctx, logAge, backupAge, false)
}

// run cleans up, or with dryRun only finds the old logs and backups (the
// Docker prune has no dry run: it is left out).
func (c *Cleanup) run(ctx context.Context, logAge, backupAge time.Duration, dryRun bool) CleanupResult {
	var r CleanupResult
	r.Logs, r.LogBytes, r.LogErr = c.oldLogs(logAge, dryRun)
	if c.Backups != nil {
		deleted, kept, err := c.Backups.Prune(backupAge, dryRun)
		for _, d := range deleted {
			r.Backups = append(r.Backups, d.Name)
			r.BackupSize += d.Size
		}
		r.Kept, r.BackupsErr = kept, err
	}
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

// Command returns `cleanup`.
func (c *Cleanup) Command() bot.Command {
	return bot.Command{
		Name:    "cleanup",
		Summary: "delete old logs and backups and prune unused Docker data (never volumes)",
		Usage:   "[--logs-older 7d] [--backups-older 30d]",
		Help: "The runbook's disk clean-up: `find ./logs -name \"*.log\" -mtime +7 -delete` (SHIFTWISE_LOG_DIR), " +
			"`find ./backups -name \"*.sql\" -mtime +30 -delete` (every backup file, but never the newest), and " +
			"`docker system prune -f` through the Engine API: stopped containers (never the operated compose project's), unused " +
			"networks, dangling images and the build cache. Volumes are never touched, nor tagged images. The approval request " +
			"lists the logs and backups it will delete; the reply names what was removed and the space freed.",
		Flags: []bot.Flag{
			{Name: "logs-older", Kind: bot.FlagDuration, Default: "7d", Usage: "delete *.log files older than this", MinDuration: minPruneAge, MaxDuration: maxPruneAge},
			{Name: "backups-older", Kind: bot.FlagDuration, Default: "30d", Usage: "delete backups older than this", MinDuration: minPruneAge, MaxDuration: maxPruneAge},
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
	logAge, backupAge := req.Args.Duration("logs-older"), req.Args.Duration("backups-older")
	if logAge < minPruneAge || backupAge < minPruneAge {
		return bot.Message{}, &bot.UsageError{Msg: "--logs-older and --backups-older must be at least 1d."}
	}
	m := c.message(c.run(ctx, logAge, backupAge, dryRun), logAge, backupAge, dryRun)
	return m, nil
}

func (c *Cleanup) message(r CleanupResult, logAge, backupAge time.Duration, dryRun bool) bot.Message {
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
		step(fmt.Sprintf("logs older than %s", human(logAge)), nil, fmt.Sprintf("no log directory %s; nothing to do", c.LogDir))
	default:
		step(fmt.Sprintf("logs older than %s", human(logAge)), r.LogErr,
			fmt.Sprintf("%d *.log files %s in %s, %s", len(r.Logs), deleted, c.LogDir, host.HumanBytes(uint64(r.LogBytes))))
		cleanupList(&m, "logs "+deleted, r.Logs)
	}
	if c.Backups != nil {
		if errors.Is(r.BackupsErr, os.ErrNotExist) {
			step(fmt.Sprintf("backups older than %s", human(backupAge)), nil, "no backup directory yet; nothing to do")
		} else {
			step(fmt.Sprintf("backups older than %s", human(backupAge)), r.BackupsErr,
				fmt.Sprintf("%d %s, %s; %d kept (the newest always)", len(r.Backups), deleted, host.HumanBytes(uint64(r.BackupSize)), r.Kept))
			cleanupList(&m, "backups "+deleted, r.Backups)
		}
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
		step("docker prune (no volumes)", r.DockerErr, v+fmt.Sprintf("; %s reclaimed", host.HumanBytes(d.Reclaimed)))
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
	for _, ch := range m.Checks {
		m.Status = bot.Worst(m.Status, ch.Status)
	}
	freed := uint64(r.LogBytes) + uint64(r.BackupSize) + r.Docker.Reclaimed
	m.Summary = fmt.Sprintf("Cleanup: %s freed", host.HumanBytes(freed))
	if dryRun {
		m.Summary = fmt.Sprintf("Cleanup would free %s of logs and backups, plus what Docker reclaims", host.HumanBytes(freed))
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
