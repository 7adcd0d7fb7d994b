package commands

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/shiftwise/shiftwise-bot/integrations/backups"
)

// BenchmarkBackup measures `backup create` and `backup verify` on a
// throwaway PostgreSQL seeded with the demo data (seed), and again with
// 100 times the demo's assignments (large), each beside the runbook's way
// of doing the same with the docker CLI (docker exec pg_dump > file;
// createdb, docker exec -i psql < file, dropdb). Run it with
// scripts/bench-backups.sh; the README quotes its numbers.
func BenchmarkBackup(b *testing.B) {
	if _, err := exec.LookPath("docker"); err != nil {
		b.Skip("the docker CLI is needed for the runbook baseline")
	}
	pg := startBackupPostgres(b)
	container := pg.project.Service("postgres").Name
	ctx := context.Background()
	for _, size := range []string{"seed", "large"} {
		if size == "large" {
			pg.sql(b, "shiftwise", `INSERT INTO assignments (employee_id, shift_demand_id, status, created_at)
				SELECT employee_id, shift_demand_id, status, created_at FROM assignments, generate_series(1, 99)`)
		}
		dir := b.TempDir()
		bk := &Backups{Docker: pg.docker, Dir: dir}
		var last backups.Backup
		b.Run(size+"/create", func(b *testing.B) {
			for b.Loop() {
				var err error
				if last, err = bk.Create(ctx); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := os.Remove(last.Path); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.SetBytes(last.Size)
		})
		cliDump := filepath.Join(dir, "cli.sql")
		b.Run(size+"/create-docker-cli", func(b *testing.B) {
			for b.Loop() {
				f, err := os.Create(cliDump)
				if err != nil {
					b.Fatal(err)
				}
				cmd := exec.Command("docker", "exec", container, "pg_dump", "-U", "shiftwise", "shiftwise")
				cmd.Stdout = f
				if err := cmd.Run(); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
			b.SetBytes(last.Size)
		})
		kept, err := bk.Create(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(size+"/verify", func(b *testing.B) {
			for b.Loop() {
				v, err := bk.Verify(ctx, kept)
				if err != nil || len(v.Mismatch) > 0 {
					b.Fatal(err, v.Mismatch)
				}
			}
			b.SetBytes(kept.Size)
		})
		b.Run(size+"/verify-docker-cli", func(b *testing.B) {
			for b.Loop() {
				docker := func(stdin string, args ...string) {
					cmd := exec.Command("docker", args...)
					if stdin != "" {
						f, err := os.Open(stdin)
						if err != nil {
							b.Fatal(err)
						}
						defer f.Close()
						cmd.Stdin = f
					}
					if out, err := cmd.CombinedOutput(); err != nil {
						b.Fatalf("docker %v: %v\n%s", args, err, out)
					}
				}
				docker("", "exec", container, "createdb", "-U", "shiftwise", "-T", "template0", "shiftwise_benchcli")
				docker(kept.Path, "exec", "-i", container, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-U", "shiftwise", "-d", "shiftwise_benchcli")
				docker("", "exec", container, "psql", "-X", "-q", "-U", "shiftwise", "-d", "shiftwise_benchcli", "-c", "SELECT count(*) FROM assignments")
				docker("", "exec", container, "dropdb", "-U", "shiftwise", "shiftwise_benchcli")
			}
			b.SetBytes(kept.Size)
		})
	}
}
