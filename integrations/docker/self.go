package docker

import (
	"bufio"
	"io"
	"os"
	"regexp"
)

// containerIDInMount finds the container ID in the source of the bind
// mounts the engine gives every container (/etc/hostname, /etc/hosts,
// /etc/resolv.conf come from <data root>/containers/<id>/).
var containerIDInMount = regexp.MustCompile(`/containers/([0-9a-f]{64})/(hostname|hosts|resolv\.conf)`)

// SelfID returns the ID of the Docker container this process runs in, or
// "" when it runs on the host: `stop all` must not stop the bot itself.
func SelfID() string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	return selfIDFrom(f)
}

func selfIDFrom(mountinfo io.Reader) string {
	sc := bufio.NewScanner(mountinfo)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if m := containerIDInMount.FindStringSubmatch(sc.Text()); m != nil {
			return m[1]
		}
	}
	return ""
}
