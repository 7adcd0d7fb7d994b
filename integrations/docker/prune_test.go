package docker_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// TestPrune prunes only objects labelled for this test: a stopped
// container of another project goes, the operated project's stopped
// container stays, an unused labelled network and an untagged labelled
// image go; nothing else on the shared engine is touched.
func TestPrune(t *testing.T) {
	api := dockertest.Engine(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	label := map[string]string{"shiftwise.prunetest": token}
	img := testenv.Get("SHIFTWISE_TEST_DATA_IMAGE")
	ours := dockertest.StartProject(t, dockertest.Service{Name: "postgres", Image: img, Cmd: []string{"true"}, Labels: label, NoWait: true})
	other := dockertest.StartProject(t, dockertest.Service{Name: "old", Image: img, Cmd: []string{"true"}, Labels: label, NoWait: true})
	dockertest.WaitState(t, ours.Service("postgres").ID, "exited", 30*time.Second)
	dockertest.WaitState(t, other.Service("old").ID, "exited", 30*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	netName := "swtest-prune-" + token
	if _, err := api.NetworkCreate(ctx, netName, client.NetworkCreateOptions{Labels: label}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = api.NetworkRemove(context.Background(), netName, client.NetworkRemoveOptions{}) })
	imageID := importUntagged(t, api, "LABEL shiftwise.prunetest="+token)
	t.Cleanup(func() { _, _ = api.ImageRemove(context.Background(), imageID, client.ImageRemoveOptions{Force: true}) })

	c := newClient(t, ours.Name)
	rep, err := c.Prune(ctx, docker.PruneOptions{Label: "shiftwise.prunetest=" + token})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Containers, []string{other.Service("old").ID}) {
		t.Errorf("containers pruned = %v, want only %s", rep.Containers, other.Service("old").ID)
	}
	if _, err := api.ContainerInspect(ctx, ours.Service("postgres").ID, client.ContainerInspectOptions{}); err != nil {
		t.Errorf("the operated project's stopped container is gone: %v", err)
	}
	if !slices.Equal(rep.Networks, []string{netName}) {
		t.Errorf("networks pruned = %v", rep.Networks)
	}
	if !slices.Contains(rep.Images, imageID) {
		t.Errorf("images pruned = %v, want %s among them", rep.Images, imageID)
	}
	if _, err := api.ImageInspect(ctx, imageID); !cerrdefs.IsNotFound(err) {
		t.Errorf("dangling image still there: %v", err)
	}
	if !rep.BuildCacheSkipped || rep.Reclaimed == 0 {
		t.Errorf("report %+v: the build cache must be skipped and the image's space counted", rep)
	}
	if _, err := api.ImageInspect(ctx, img); err != nil {
		t.Errorf("a tagged image was removed: %v", err)
	}
}

// importUntagged imports a one-file image without a tag (so it is
// dangling) and returns its ID.
func importUntagged(t *testing.T, api *client.Client, changes ...string) string {
	t.Helper()
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	data := []byte(strings.Repeat("prune me\n", 1000))
	if err := tw.WriteHeader(&tar.Header{Name: "file", Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	_, _ = tw.Write(data)
	_ = tw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rc, err := api.ImageImport(ctx, client.ImageImportSource{Source: &layer, SourceName: "-"}, "", client.ImageImportOptions{Changes: changes})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	dec := json.NewDecoder(rc)
	var id string
	for {
		var msg struct{ Status, Error string }
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if msg.Error != "" {
			t.Fatal(msg.Error)
		}
		if strings.HasPrefix(msg.Status, "sha256:") {
			id = msg.Status
		}
	}
	if id == "" {
		t.Fatal("import gave no image ID")
	}
	return id
}
