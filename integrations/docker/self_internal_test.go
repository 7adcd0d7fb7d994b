package docker

import (
	"strings"
	"testing"
)

func TestSelfIDFromMountinfo(t *testing.T) {
	id := strings.Repeat("ab12", 16)
	in := "1 0 254:0 / / rw - ext4 /dev/vda rw\n" +
		"640 620 254:0 /var/lib/docker/containers/" + id + "/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw\n"
	if got := selfIDFrom(strings.NewReader(in)); got != id {
		t.Errorf("selfIDFrom = %q, want %q", got, id)
	}
	if got := selfIDFrom(strings.NewReader("1 0 254:0 / / rw - ext4 /dev/vda rw\n")); got != "" {
		t.Errorf("on the host: %q", got)
	}
	// This test runs on the host, or in a container whose ID it finds.
	if got := SelfID(); got != "" && len(got) != 64 {
		t.Errorf("SelfID() = %q", got)
	}
}
