// Package testenv tells tests where the real services they need are: the
// demo ShiftWise stack (containers of compose project "shiftwise", ports on
// 127.0.0.1) and the host's own PostgreSQL and Redis (the bot's state).
//
// A test asks for a service with one of the Require functions. When the
// service does not answer, the test is skipped on a developer machine and
// fails under CI=true, where a missing service is a broken setup.
// `make test` (scripts/test.sh) installs and starts everything these
// defaults point at.
package testenv

import (
	"context"
	"net"
	"net/url"
	"os"
	"testing"
	"time"
)

// Defaults for the demo stack (deploy/demo/docker-compose.yml) and the
// host services started by scripts/test-deps.sh. Each can be overridden by
// the environment variable of the same name.
var defaults = map[string]string{
	"SHIFTWISE_TEST_API_URL":          "http://127.0.0.1:13000",
	"SHIFTWISE_TEST_FRONTEND_URL":     "http://127.0.0.1:13001",
	"SHIFTWISE_TEST_NGINX_URL":        "http://127.0.0.1:18080",
	"SHIFTWISE_TEST_TARGET_DB_URL":    "postgres://shiftwise:shiftwise@127.0.0.1:15432/shiftwise?sslmode=disable",
	"SHIFTWISE_TEST_TARGET_REDIS_URL": "redis://127.0.0.1:16379/0",
	"SHIFTWISE_TEST_DATABASE_URL":     "postgres://shiftwise_test:shiftwise_test@127.0.0.1:5432/shiftwise_test?sslmode=disable",
	"SHIFTWISE_TEST_REDIS_URL":        "redis://127.0.0.1:6379/15",
	"SHIFTWISE_TEST_COMPOSE_PROJECT":  "shiftwise",
	// Images built locally by scripts/demo-images.sh; tests create their
	// own throwaway containers from them.
	"SHIFTWISE_TEST_APP_IMAGE":  "shiftwise-demo/app:latest",
	"SHIFTWISE_TEST_DATA_IMAGE": "shiftwise-demo/data:latest",
}

// Get returns the value of a SHIFTWISE_TEST_* setting.
func Get(name string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return defaults[name]
}

// CI reports whether the tests run under CI (CI=true), where a missing
// service is a failure and never a skip.
func CI() bool { return os.Getenv("CI") == "true" }

// Missing skips the test, or fails it under CI, naming what is missing.
func Missing(t testing.TB, what string, err error) {
	t.Helper()
	if CI() {
		t.Fatalf("%s is not available (CI=true makes this a failure): %v; run `make test` to set it up", what, err)
	}
	t.Skipf("%s is not available: %v; `make test` sets it up", what, err)
}

// RequireTCP makes sure something listens on the host:port of rawURL.
func RequireTCP(t testing.TB, what, rawURL string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("testenv: bad URL for %s: %v", what, err)
	}
	d := net.Dialer{Timeout: 2 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		Missing(t, what, err)
		return
	}
	c.Close()
}

// DemoAPI returns the demo stack's API base URL, after checking it listens.
func DemoAPI(t testing.TB) string { return require(t, "demo api", "SHIFTWISE_TEST_API_URL") }

// DemoFrontend returns the demo stack's frontend base URL.
func DemoFrontend(t testing.TB) string {
	return require(t, "demo frontend", "SHIFTWISE_TEST_FRONTEND_URL")
}

// TargetDB returns the URL of the demo stack's PostgreSQL (the operated database).
func TargetDB(t testing.TB) string {
	return require(t, "demo postgres", "SHIFTWISE_TEST_TARGET_DB_URL")
}

// TargetRedis returns the URL of the demo stack's Redis (the operated cache).
func TargetRedis(t testing.TB) string {
	return require(t, "demo redis", "SHIFTWISE_TEST_TARGET_REDIS_URL")
}

// BotDB returns the URL of the host PostgreSQL database for the bot's own state.
func BotDB(t testing.TB) string {
	return require(t, "host postgres (bot state)", "SHIFTWISE_TEST_DATABASE_URL")
}

// BotRedis returns the URL of the host Redis for the bot's own dedup and leases.
func BotRedis(t testing.TB) string {
	return require(t, "host redis (bot state)", "SHIFTWISE_TEST_REDIS_URL")
}

func require(t testing.TB, what, name string) string {
	t.Helper()
	u := Get(name)
	RequireTCP(t, what, u)
	return u
}

// Docker makes sure the Docker Engine answers on DOCKER_HOST (default the
// unix socket) and returns that host string.
func Docker(t testing.TB) string {
	t.Helper()
	host := os.Getenv("DOCKER_HOST")
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	u, err := url.Parse(host)
	if err != nil {
		t.Fatalf("testenv: bad DOCKER_HOST %q: %v", host, err)
	}
	network, addr := "unix", u.Path
	if u.Scheme == "tcp" {
		network, addr = "tcp", u.Host
	}
	c, err := net.DialTimeout(network, addr, 2*time.Second)
	if err != nil {
		Missing(t, "Docker Engine at "+host, err)
		return host
	}
	c.Close()
	return host
}
