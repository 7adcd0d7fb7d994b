package docker

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/client"
)

// defaultPruneTimeout bounds a Prune whose context has no deadline.
const defaultPruneTimeout = 5 * time.Minute

// PruneOptions narrow what Prune removes.
type PruneOptions struct {
	// Label ("key=value"), when set, restricts the containers, images and
	// networks pruned to those carrying it, and leaves the build cache
	// (whose entries carry no labels) alone. Tests use it to prune only
	// their own throwaway objects.
	Label string
}

// PruneReport says what Prune removed.
type PruneReport struct {
	Containers []string // IDs of stopped containers removed
	Images     []string // IDs of dangling images deleted
	Networks   []string // names of unused networks removed
	BuildCache int      // build cache entries removed
	// Reclaimed is the space the engine says it freed, in bytes.
	Reclaimed uint64
	// BuildCacheSkipped says the build cache was not pruned (Label set).
	BuildCacheSkipped bool
}

// Prune is the runbook's `docker system prune -f` through the Engine's
// prune endpoints: stopped containers, unused networks, dangling images
// and the build cache. It never touches volumes (the data of PostgreSQL),
// never removes tagged images (`-a` is not done), and never removes a
// container of this client's compose project, stopped or not: a stopped
// service must stay startable. The steps run in docker's order; the report
// holds what was removed up to the first error.
func (c *Client) Prune(ctx context.Context, opts PruneOptions) (PruneReport, error) {
	ctx, cancel := withDefaultTimeout(ctx, defaultPruneTimeout)
	defer cancel()
	var rep PruneReport
	if err := c.negotiate(ctx); err != nil {
		return rep, fmt.Errorf("docker: prune: %w", err)
	}
	scoped := func() client.Filters {
		f := make(client.Filters)
		if opts.Label != "" {
			f.Add("label", opts.Label)
		}
		return f
	}

	cf := scoped().Add("label!", LabelProject+"="+c.project)
	cres, err := c.api.ContainerPrune(ctx, client.ContainerPruneOptions{Filters: cf})
	if err != nil {
		return rep, fmt.Errorf("docker: prune stopped containers: %w", err)
	}
	rep.Containers = cres.Report.ContainersDeleted
	rep.Reclaimed += cres.Report.SpaceReclaimed

	nres, err := c.api.NetworkPrune(ctx, client.NetworkPruneOptions{Filters: scoped()})
	if err != nil {
		return rep, fmt.Errorf("docker: prune unused networks: %w", err)
	}
	rep.Networks = nres.Report.NetworksDeleted

	ires, err := c.api.ImagePrune(ctx, client.ImagePruneOptions{Filters: scoped().Add("dangling", "true")})
	if err != nil {
		return rep, fmt.Errorf("docker: prune dangling images: %w", err)
	}
	for _, d := range ires.Report.ImagesDeleted {
		if d.Deleted != "" {
			rep.Images = append(rep.Images, d.Deleted)
		}
	}
	rep.Reclaimed += ires.Report.SpaceReclaimed

	if opts.Label != "" {
		rep.BuildCacheSkipped = true
		return rep, nil
	}
	bres, err := c.api.BuildCachePrune(ctx, client.BuildCachePruneOptions{})
	if err != nil {
		return rep, fmt.Errorf("docker: prune build cache: %w", err)
	}
	rep.BuildCache = len(bres.Report.CachesDeleted)
	rep.Reclaimed += bres.Report.SpaceReclaimed
	return rep, nil
}
