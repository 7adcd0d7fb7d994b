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
		testImage.ref, testImage.err = buildImage(ctx, api)
	})
	if testImage.err != nil {
		t.Fatalf("dockertest: test image: %v", testImage.err)
	}
	return testImage.ref
}

func buildImage(ctx context.Context, api *client.Client) (string, error) {
	dir, err := os.MkdirTemp("", "dockertest-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "testapp")

	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.CommandContext(ctx, goTool, "build", "-trimpath", "-ldflags=-s -w", "-o", bin, testAppPackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", testAppPackage, err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	ref := ImageRepo + ":" + hex.EncodeToString(sum[:])[:12]

	if _, err := api.ImageInspect(ctx, ref); err == nil {
		return ref, nil
	} else if !cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("inspect image %s: %w", ref, err)
	}

	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	if err := tw.WriteHeader(&tar.Header{
		Name: "testapp", Mode: 0o755, Size: int64(len(data)),
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
		client.ImageImportOptions{Changes: []string{
			`ENTRYPOINT ["/testapp"]`,
			`CMD ["serve", "-addr", ":3000"]`,
			`LABEL ` + LabelTest + `=1`,
		}},
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
