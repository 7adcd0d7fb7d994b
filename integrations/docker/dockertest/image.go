package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// testAppPackage is the program inside the test image.
const testAppPackage = "github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest/testapp"

// ImageRepo is the repository of the test image; its tag is a hash of the
// binary, so an unchanged program is imported once per machine.
const ImageRepo = "shiftwise-test/app"

var testImage struct {
	once sync.Once
	ref  string
	err  error
}

// Image returns the reference of the test image: a FROM-scratch image with
// the static testapp binary as its entrypoint (see the testapp package for
// its commands; the default command serves HTTP on :3000). The binary is
// compiled with the go tool and imported through the Engine API the first
// time a test binary asks, without any registry.
func Image(t testing.TB) string {
	t.Helper()
	api := Engine(t)
	testImage.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		testImage.ref, testImage.err = buildImage(ctx, api, testAppPackage, ImageRepo, "testapp",
			`ENTRYPOINT ["/testapp"]`, `CMD ["serve", "-addr", ":3000"]`)
	})
	if testImage.err != nil {
		t.Fatalf("dockertest: test image: %v", testImage.err)
	}
	return testImage.ref
}

// demoAppPackage is the demo stack's program (deploy/demo/Dockerfile.app).
const demoAppPackage = "github.com/shiftwise/shiftwise-bot/cmd/shiftwise-demo"

// DemoAppRepo is the repository of DemoAppImage.
const DemoAppRepo = "shiftwise-test/demo-app"

var demoAppImage struct {
	once sync.Once
	ref  string
	err  error
}

// DemoAppImage returns an image shaped like shiftwise-demo/app
// (deploy/demo/Dockerfile.app: /usr/local/bin/shiftwise-demo as entrypoint,
// PATH=/usr/local/bin) with the shiftwise-demo of the tree under test,
// compiled and imported like Image. Unlike shiftwise-demo/app:latest, which
// scripts/demo-images.sh builds from whatever tree ran it last, it always
// has the behaviour the test reads in cmd/shiftwise-demo.
func DemoAppImage(t testing.TB) string {
	t.Helper()
	api := Engine(t)
	demoAppImage.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		demoAppImage.ref, demoAppImage.err = buildImage(ctx, api, demoAppPackage, DemoAppRepo, "usr/local/bin/shiftwise-demo",
			`ENV PATH=/usr/local/bin`, `ENTRYPOINT ["/usr/local/bin/shiftwise-demo"]`)
	})
	if demoAppImage.err != nil {
		t.Fatalf("dockertest: demo app image: %v", demoAppImage.err)
	}
	return demoAppImage.ref
}

// buildImage compiles pkg statically and imports it as the only file of a
// FROM-scratch image repo:<hash of the binary> at path, with the
// Dockerfile-style changes.
func buildImage(ctx context.Context, api *client.Client, pkg, repo, path string, changes ...string) (string, error) {
	dir, err := os.MkdirTemp("", "dockertest-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "app")

	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.CommandContext(ctx, goTool, "build", "-trimpath", "-ldflags=-s -w", "-o", bin, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	ref := repo + ":" + hex.EncodeToString(sum[:])[:12]

	if _, err := api.ImageInspect(ctx, ref); err == nil {
		return ref, nil
	} else if !cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("inspect image %s: %w", ref, err)
	}

	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	if err := tw.WriteHeader(&tar.Header{
		Name: path, Mode: 0o755, Size: int64(len(data)),
		Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0),
	}); err != nil {
		return "", err
	}
	if _, err := tw.Write(data); err != nil {
		return "", err
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	rc, err := api.ImageImport(ctx,
		client.ImageImportSource{Source: &layer, SourceName: "-"},
		ref,
		client.ImageImportOptions{Changes: append(changes, `LABEL `+LabelTest+`=1`)},
	)
	if err != nil {
		return "", fmt.Errorf("import image %s: %w", ref, err)
	}
	defer rc.Close()
	// The answer is a stream of JSON messages; a failure is one with "error".
	dec := json.NewDecoder(rc)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", fmt.Errorf("import image %s: read answer: %w", ref, err)
		}
		if msg.Error != "" {
			return "", fmt.Errorf("import image %s: %s", ref, msg.Error)
		}
	}
	if _, err := api.ImageInspect(ctx, ref); err != nil {
		return "", fmt.Errorf("import image %s: not there afterwards: %w", ref, err)
	}
	return ref, nil
}
