package commands

import (
	"context"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

func TestStatusAgreesWithDockerPs(t *testing.T) {
	t.Parallel()
	img := dockertest.Image(t)
	imageID := strings.TrimSpace(dockerCLI(t, "image", "inspect", "--format", "{{.Id}}", img))
	p := dockertest.StartProject(t,
		dockertest.Service{Name: "api", Ports: []string{"3000"}, Health: dockertest.HTTPHealth(),
			Labels: map[string]string{docker.LabelDeployedImage: imageID}},
		dockertest.Service{Name: "frontend", Ports: []string{"3000"},
			Labels: map[string]string{docker.LabelDeployedImage: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}},
		dockertest.Service{Name: "job", Cmd: []string{"exit", "3"}},
		dockertest.Service{Name: "stopped", Ports: []string{"3000"}},
	)
	dockertest.WaitHealthy(t, p.Service("api").ID, 60*time.Second)
	dockertest.WaitState(t, p.Service("job").ID, "exited", 30*time.Second)
	dockertest.Stop(t, p.Service("stopped").ID)
	o := opsOn(t, p, containersPolicy)

	before := dockerPS(t, p.Name)
	r, _ := o.run("console:l1", "status")
	after := dockerPS(t, p.Name)
	m := r.Message
	if len(m.Code) != 1 {
		t.Fatalf("status: %s", render(m))
	}
	rows := tableRows(t, m.Code[0].Text)
	if len(rows) != len(before) || len(before) != 4 {
		t.Fatalf("status lists %d containers, docker ps %d:\n%s", len(rows), len(before), render(m))
	}
	for _, row := range rows {
		name := row["NAME"]
		want, ok := before[name]
		again := after[name]
		again.status = want.status // "Up 4 seconds" may turn "Up 5 seconds" meanwhile
		if !ok || again != want {
			t.Fatalf("container %s: docker ps %+v then %+v", name, want, after[name])
		}
		state := strings.Fields(row["STATE"])[0]
		health := row["HEALTH"]
		if health == "-" {
			health = ""
		}
		if row["SERVICE"] != want.service || state != want.state || health != want.health ||
			!strings.HasPrefix(row["IMAGE"], want.image+" (") {
			t.Errorf("status row %v; docker ps %+v", row, want)
		}
		if want.state == "exited" {
			code := regexp.MustCompile(`^Exited \((\d+)\)`).FindStringSubmatch(want.status)
			if code == nil || row["STATE"] != "exited ("+code[1]+")" {
				t.Errorf("%s: state %q, docker ps status %q", name, row["STATE"], want.status)
			}
			if !strings.HasSuffix(row["UPTIME"], " ago") {
				t.Errorf("%s: an exited container's uptime column %q", name, row["UPTIME"])
			}
		} else if !strings.HasPrefix(row["UPTIME"], "Up ") || !strings.HasPrefix(want.status, "Up ") {
			t.Errorf("%s: uptime %q, docker ps %q", name, row["UPTIME"], want.status)
		}
		// Only frontend runs an image other than the one deployed.
		if marked := strings.HasSuffix(row["IMAGE"], " *"); marked != (row["SERVICE"] == "frontend") {
			t.Errorf("%s: deployed-image mark %v in %q", name, marked, row["IMAGE"])
		}
	}
	if m.Status != bot.StatusFailed || m.Summary != "2 of 4 Up" {
		t.Errorf("status %s, summary %q; want FAILED and 2 of 4 Up\n%s", m.Status, m.Summary, render(m))
	}
	if !strings.Contains(m.Text, "frontend runs "+shortImageID(imageID)+", not 0123456789ab that the bot last deployed") {
		t.Errorf("the note on frontend's image is missing:\n%s", render(m))
	}

	// One service; an unknown one lists the real ones.
	r, _ = o.run("console:l1", "status api")
	if rows := tableRows(t, r.Message.Code[0].Text); len(rows) != 1 || rows[0]["SERVICE"] != "api" || r.Message.Status != bot.StatusOK {
		t.Errorf("status api:\n%s", render(r.Message))
	}
	r, _ = o.run("console:l1", "status nosuch")
	if r.Outcome != bot.OutcomeUsage || !strings.Contains(r.Message.Text, "Services of project "+p.Name+": api, frontend, job, stopped.") {
		t.Errorf("status nosuch: %v\n%s", r.Outcome, render(r.Message))
	}
}

// A deploy record, when there is one, decides over the label.
type deployRecord map[string]string

func (d deployRecord) DeployedImage(_ context.Context, svc string) (string, bool, error) {
	id, ok := d[svc]
	return id, ok, nil
}

func TestStatusMarksAgainstTheDeployRecord(t *testing.T) {
	t.Parallel()
	o := newOps(t, containersPolicy, dockertest.Service{Name: "api", Ports: []string{"3000"}})
	o.s.Deployed = deployRecord{"api": "sha256:feedfacefeedfacefeedface"}
	r, _ := o.run("console:l1", "status")
	if r.Message.Status != bot.StatusWarn || !strings.Contains(r.Message.Text, "not feedfacefeed that the bot last deployed") {
		t.Errorf("status with a deploy record naming another image:\n%s", render(r.Message))
	}
	o.s.Deployed = deployRecord{}
	r, _ = o.run("console:l1", "status")
	if r.Message.Status != bot.StatusOK || r.Message.Text != "" {
		t.Errorf("status without a record or label:\n%s", render(r.Message))
	}
}

// parseDockerSize reads the docker CLI's "12.5MiB", "1.2GB", "0B".
func parseDockerSize(t *testing.T, s string) float64 {
	t.Helper()
	m := regexp.MustCompile(`^([0-9.]+)([A-Za-z]+)$`).FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		t.Fatalf("size %q", s)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	mult := map[string]float64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
		"kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}[m[2]]
	if mult == 0 {
		t.Fatalf("unit of %q", s)
	}
	return v * mult
}

func TestStatsAndTopAgreeWithDocker(t *testing.T) {
	t.Parallel()
	data := testenv.Get("SHIFTWISE_TEST_DATA_IMAGE")
	o := newOps(t, containersPolicy,
		dockertest.Service{Name: "idle", Ports: []string{"3000"}},
		// Busy for at most 90 s, so a test killed midway leaves nothing spinning.
		dockertest.Service{Name: "busy", Image: data, Cmd: []string{"timeout", "90", "sh", "-c", "while :; do :; done"}, NoWait: true},
	)
	var (
		wg     sync.WaitGroup
		cli    string
		r      bot.Reply
		errCLI error
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "docker", "stats", "--no-stream", "--format",
			"{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.MemPerc}}|{{.PIDs}}",
			o.project.Service("idle").ID, o.project.Service("busy").ID).CombinedOutput()
		cli, errCLI = string(out), err
	}()
	go func() {
		defer wg.Done()
		r, _ = o.run("console:l1", "stats")
	}()
	wg.Wait()
	if errCLI != nil {
		t.Fatalf("docker stats: %v\n%s", errCLI, cli)
	}
	ours := map[string]map[string]string{}
	for _, row := range tableRows(t, r.Message.Code[0].Text) {
		ours[row["NAME"]] = row
	}
	for _, l := range strings.Split(strings.TrimSpace(cli), "\n") {
		f := strings.Split(l, "|")
		row := ours[f[0]]
		if row == nil {
			t.Fatalf("stats has no row for %s:\n%s", f[0], render(r.Message))
		}
		cpuCLI, _ := strconv.ParseFloat(strings.TrimSuffix(f[1], "%"), 64)
		cpuOurs, _ := strconv.ParseFloat(strings.TrimSuffix(row["CPU %"], "%"), 64)
		busy := strings.Contains(f[0], "-busy-")
		// The two may read different one-second intervals of the same
		// load, on a machine other work shares: close, and busy is busy.
		if d := cpuOurs - cpuCLI; d > 15 || d < -15 || busy && (cpuCLI < 2 || cpuOurs < 2) || !busy && (cpuCLI > 2 || cpuOurs > 2) {
			t.Errorf("%s: CPU %v%% here, %v%% by docker stats", f[0], cpuOurs, cpuCLI)
		}
		usageCLI, limitCLI, _ := strings.Cut(f[2], " / ")
		usage, limit, _ := strings.Cut(row["MEM USAGE / LIMIT"], " / ")
		if limit != strings.TrimSpace(limitCLI) {
			t.Errorf("%s: memory limit %q here, %q by docker stats", f[0], limit, limitCLI)
		}
		if a, b := parseDockerSize(t, usage), parseDockerSize(t, usageCLI); a < b*0.8-1<<20 || a > b*1.2+1<<20 {
			t.Errorf("%s: memory %s here, %s by docker stats", f[0], usage, usageCLI)
		}
		if !busy && row["PIDS"] != f[4] {
			t.Errorf("%s: %s PIDs here, %s by docker stats", f[0], row["PIDS"], f[4])
		}
	}

	// stats of one service, and top: the same processes as docker top.
	r, _ = o.run("console:l1", "stats idle")
	if rows := tableRows(t, r.Message.Code[0].Text); len(rows) != 1 || rows[0]["SERVICE"] != "idle" {
		t.Errorf("stats idle:\n%s", render(r.Message))
	}
	for _, svc := range []string{"idle", "busy"} {
		id := o.project.Service(svc).ID
		before := dockerCLI(t, "top", id)
		r, _ = o.run("console:l1", "top "+svc)
		after := dockerCLI(t, "top", id)
		pids := func(rows []map[string]string) []string {
			var out []string
			for _, row := range rows {
				// A container's health check runs as a short-lived process
				// (and is a bracketed zombie while it exits): it may be in
				// one listing and not the next, so it is no evidence.
				if strings.Contains(row["CMD"], "healthcheck") || strings.HasPrefix(row["CMD"], "[") {
					continue
				}
				out = append(out, row["PID"]+" "+row["CMD"])
			}
			sort.Strings(out)
			return out
		}
		if len(r.Message.Code) != 1 {
			t.Fatalf("top %s:\n%s", svc, render(r.Message))
		}
		got := pids(tableRows(t, r.Message.Code[0].Text))
		want1, want2 := pids(tableRows(t, strings.TrimSpace(before))), pids(tableRows(t, strings.TrimSpace(after)))
		if len(got) == 0 || (strings.Join(got, ",") != strings.Join(want1, ",") && strings.Join(got, ",") != strings.Join(want2, ",")) {
			t.Errorf("top %s: %v; docker top %v then %v", svc, got, want1, want2)
		}
	}
	if r, _ := o.run("console:l1", "top"); r.Outcome != bot.OutcomeUsage {
		t.Errorf("top without a service: %v", r.Outcome)
	}
}
