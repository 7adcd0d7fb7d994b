package commands

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/host"
)

func TestHostShowsDfAndFree(t *testing.T) {
	// The real host: the root filesystem and the memory are there.
	r := runHost(t, &Host{WarnPercent: 100})
	if r.Outcome != bot.OutcomeOK || len(r.Message.Code) != 2 || !strings.Contains(r.Message.Code[0].Text, " /\n") && !strings.HasSuffix(r.Message.Code[0].Text, " /") ||
		!strings.Contains(r.Message.Code[1].Text, "Mem:") || !strings.HasPrefix(r.Message.Summary, "memory ") {
		t.Errorf("host:\n%s", render(r.Message))
	}

	// A full disk, a hung mount and busy memory are flagged.
	const gb = 1 << 30
	h := &Host{
		Filesystems: func() ([]host.Filesystem, error) {
			return []host.Filesystem{
				{Source: "/dev/vda", Type: "ext4", Disk: host.Disk{Mount: "/", Total: 100 * gb, Used: 90 * gb, Avail: 10 * gb, UsedPercent: 90}},
				{Source: "/dev/vdb", Type: "ext4", Disk: host.Disk{Mount: "/data", Total: 100 * gb, Used: 10 * gb, Avail: 90 * gb, UsedPercent: 10}},
				{Source: "nfs:/x", Type: "nfs", Disk: host.Disk{Mount: "/mnt/nfs"}, Err: errors.New("no answer within 2s")},
			}, nil
		},
		Memory: func() (host.Free, error) {
			return host.Free{Total: 10 * gb, Used: 8.5 * gb, Available: 1.5 * gb, Free: gb}, nil
		},
	}
	r = runHost(t, h)
	m := r.Message
	if m.Status != bot.StatusWarn || !strings.Contains(m.Text, "/ is 90% full (10G free)") || !strings.Contains(m.Text, "memory is 85% used") ||
		strings.Contains(m.Text, "/data") || !strings.Contains(m.Code[0].Text, "/mnt/nfs (no answer within 2s)") {
		t.Errorf("host with a full disk:\n%s", render(m))
	}
	if r := runHost(t, &Host{Filesystems: h.Filesystems, Memory: func() (host.Free, error) { return host.Free{}, errors.New("no /proc") }}); r.Message.Status != bot.StatusWarn ||
		!strings.Contains(r.Message.Text, "memory unreadable: no /proc") {
		t.Errorf("host without /proc/meminfo:\n%s", render(r.Message))
	}
}

func runHost(t *testing.T, h *Host) bot.Reply {
	t.Helper()
	reg, err := bot.NewRegistry(h.Command())
	if err != nil {
		t.Fatal(err)
	}
	e, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: allow{}, Redactor: same{}})
	if err != nil {
		t.Fatal(err)
	}
	return e.Handle(context.Background(), bot.Request{Subject: "console:t", Text: "host"})
}

// free -h's columns, from a real free -b / free -h pair on this machine.
func TestFreeHuman(t *testing.T) {
	for n, want := range map[uint64]string{0: "0B", 999: "999B", 1000: "1.0Ki", 1536: "1.5Ki",
		25275990016: "23Gi", 1229647872: "1.1Gi", 20061970432: "18Gi", 161341440: "153Mi", 4460179456: "4.2Gi", 24046342144: "22Gi"} {
		if got := freeHuman(n); got != want {
			t.Errorf("freeHuman(%d) = %q, want %q", n, got, want)
		}
	}
}
