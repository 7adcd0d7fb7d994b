package dockertest

import (
	"context"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// DeriveImage makes a new image from base without a registry or a
// builder: a container of base is created (never started) and committed
// with the Dockerfile-style changes (e.g. "ENV DEMO_HEALTH_MODE=fail"),
// which gives a new image ID even without changes. The image is tagged
// ref and untagged when the test ends (removing the image when nothing
// else uses it). It returns the new image's ID.
func DeriveImage(t testing.TB, base, ref string, changes ...string) string {
	t.Helper()
	api := Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	created, err := api.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: base}})
	if err != nil {
		t.Fatalf("dockertest: derive %s from %s: create: %v", ref, base, err)
	}
	defer func() {
		_, _ = api.ContainerRemove(context.Background(), created.ID, client.ContainerRemoveOptions{Force: true})
	}()
	res, err := api.ContainerCommit(ctx, created.ID, client.ContainerCommitOptions{Reference: ref, Changes: changes, NoPause: true})
	if err != nil {
		t.Fatalf("dockertest: derive %s from %s: commit: %v", ref, base, err)
	}
	t.Cleanup(func() { Untag(t, ref) })
	return res.ID
}

// Tag points ref at the image source (a reference or ID), as `docker tag`
// does, and untags it when the test ends.
func Tag(t testing.TB, source, ref string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if _, err := Engine(t).ImageTag(ctx, client.ImageTagOptions{Source: source, Target: ref}); err != nil {
		t.Fatalf("dockertest: tag %s as %s: %v", source, ref, err)
	}
	t.Cleanup(func() { Untag(t, ref) })
}

// Untag removes the tag ref (and its image when nothing else uses it); a
// tag that is already gone is fine.
func Untag(t testing.TB, ref string) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	_, err := Engine(t).ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true})
	if err != nil && !isNotFound(err) {
		t.Logf("dockertest: untag %s: %v", ref, err)
	}
}

// ImageID returns the ID of the local image ref.
func ImageID(t testing.TB, ref string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	res, err := Engine(t).ImageInspect(ctx, ref)
	if err != nil {
		t.Fatalf("dockertest: inspect image %s: %v", ref, err)
	}
	return res.ID
}

// SweepProject removes, when the test ends, every container labelled as
// belonging to project, whoever created it: code under test may replace
// the containers StartProject made (a deploy does).
func SweepProject(t testing.TB, project string) {
	t.Helper()
	api := Engine(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		list, err := api.ContainerList(ctx, client.ContainerListOptions{
			All:     true,
			Filters: make(client.Filters).Add("label", LabelProject+"="+project),
		})
		if err != nil {
			t.Errorf("dockertest: sweep project %s: %v", project, err)
			return
		}
		for _, c := range list.Items {
			if c.Labels[LabelProject] != project {
				continue
			}
			remove(t, api, c.ID, c.ID)
		}
	})
}
