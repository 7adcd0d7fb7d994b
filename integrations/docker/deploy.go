package docker

// Deploy and rollback of one compose service on the Docker Engine, without
// a registry and without the compose file: the service's container is
// inspected and recreated on another image with the same configuration,
// the old container is kept aside (stopped, renamed) until the new one is
// healthy, and put back by itself when it is not.
//
// The deploy history lives in labels on the container a deploy creates
// (LabelDeployedImage and friends), so it survives restarts of the bot
// and needs no database; rollback returns to LabelPreviousImage, an image
// ID, never to a tag that may have moved since.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// Labels a deploy puts on the container it creates. `status` compares
// LabelDeployedImage with the running image.
const (
	LabelDeployedImage = "shiftwise.deployed-image" // image ID the bot deployed
	LabelDeployedRef   = "shiftwise.deployed-ref"   // the reference it was asked for
	LabelPreviousImage = "shiftwise.previous-image" // image ID of the container it replaced
	LabelPreviousRef   = "shiftwise.previous-ref"   // that container's image reference
	LabelDeployedAt    = "shiftwise.deployed-at"    // RFC 3339, UTC
	LabelDeployedBy    = "shiftwise.deployed-by"    // the requester, e.g. slack:U024BE7LH
	LabelDeployAction  = "shiftwise.deploy-action"  // deploy or rollback

	labelOneOff = "com.docker.compose.oneoff"
)

// asideSuffix is appended to the name of a container kept aside while its
// replacement starts. A container with this suffix left behind means a
// deploy did not finish (the bot was killed in the middle).
const asideSuffix = "-shiftwise-aside"

// KeepRepo is the repository of the tag that keeps a service's previous
// image from being pruned as dangling when its own tag moves:
// shiftwise-rollback/<project>-<service>:previous.
const KeepRepo = "shiftwise-rollback"

// Deploy defaults.
const (
	DefaultHealthTimeout = 2 * time.Minute
	DefaultSettle        = 3 * time.Second // running this long counts as up, without a healthcheck
	healthPoll           = 250 * time.Millisecond
	verifyCallTimeout    = 5 * time.Second
	restoreTimeout       = 2 * time.Minute // putting the old container back, on its own deadline
	diagnosticLines      = 20
)

// Errors a caller can tell apart; their text is a sentence for people.
var (
	// ErrNoSuchService: the compose project has no container for the service.
	ErrNoSuchService = errors.New("no such service")
	// ErrBadImageRef: the text is not an image reference.
	ErrBadImageRef = errors.New("not an image reference")
	// ErrNoImage: the image is not on this host (and is never pulled).
	ErrNoImage = errors.New("image not on this host")
	// ErrNoHistory: the service's container carries no deploy record.
	ErrNoHistory = errors.New("no deploy recorded")
	// ErrNotDeployable: the service's containers cannot be replaced safely.
	ErrNotDeployable = errors.New("cannot be deployed")
)

var (
	serviceName  = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$`)
	imageIDText  = regexp.MustCompile(`^(sha256:)?[a-f0-9]{64}$`)
	refAlphabet  = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._:/@-]*$`)
	keepRepoChar = regexp.MustCompile(`[^a-z0-9._-]+`)
)

// ValidServiceName reports whether s can be a compose service name. It
// says nothing about whether the project has it.
func ValidServiceName(s string) bool { return serviceName.MatchString(s) }

// ParseImageRef checks text as an image reference a person may deploy:
// name[:tag][@digest] as the distribution grammar defines it (lower-case
// repository, at most 255 characters), or an image ID (sha256:<64 hex> or
// the 64 hex digits). It returns the reference as the engine will be
// asked for it, or an error wrapping ErrBadImageRef.
func ParseImageRef(text string) (string, error) {
	if len(text) == 0 || len(text) > 255 || !refAlphabet.MatchString(text) {
		return "", fmt.Errorf("%w: %q", ErrBadImageRef, clipText(text, 80))
	}
	if imageIDText.MatchString(text) {
		if !strings.HasPrefix(text, "sha256:") {
			text = "sha256:" + text
		}
		return text, nil
	}
	named, err := reference.ParseNormalizedNamed(text)
	if err != nil {
		return "", fmt.Errorf("%w: %q (%v)", ErrBadImageRef, clipText(text, 80), err)
	}
	// The engine resolves short names itself (app:v2, not
	// docker.io/library/app:v2): keep what was typed.
	_ = named
	return text, nil
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ImageRef is an image as a deploy records it: its ID, and the reference
// it was known by ("" when only the ID is known).
type ImageRef struct {
	ID  string // sha256:…
	Ref string
}

// String shows the reference and the short ID: "app:v2 (5e38e71baafb)".
func (r ImageRef) String() string {
	id := strings.TrimPrefix(r.ID, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	if r.Ref == "" || r.Ref == r.ID {
		return id
	}
	return r.Ref + " (" + id + ")"
}

// DeployRecord is what the labels of a service's container say about the
// deploy that created it. Zero when the bot did not create it.
type DeployRecord struct {
	Deployed ImageRef
	Previous ImageRef
	At       time.Time
	By       string
	Action   string
}

func recordFrom(labels map[string]string) DeployRecord {
	r := DeployRecord{
		Deployed: ImageRef{ID: labels[LabelDeployedImage], Ref: labels[LabelDeployedRef]},
		Previous: ImageRef{ID: labels[LabelPreviousImage], Ref: labels[LabelPreviousRef]},
		By:       labels[LabelDeployedBy],
		Action:   labels[LabelDeployAction],
	}
	r.At, _ = time.Parse(time.RFC3339, labels[LabelDeployedAt])
	return r
}

// DeployPlan is a checked deploy or rollback, nothing changed yet: which
// container is replaced, its image by ID, and the image it goes to.
type DeployPlan struct {
	Action      string // deploy or rollback
	Service     string
	Container   string // its name
	ContainerID string
	Running     bool // the container runs now (else it is started on the new image)
	Current     ImageRef
	Target      ImageRef
	Record      DeployRecord // the current container's deploy labels
}

// deployLocks serializes deploys of one service in this process; across
// processes the container's rename to its aside name fails for the second.
var deployLocks sync.Map // project/service -> *sync.Mutex

func (c *Client) lockService(service string) func() {
	m, _ := deployLocks.LoadOrStore(c.project+"/"+service, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// serviceContainer finds the one container of the service in the project,
// refusing one-off containers, scaled services and leftovers of a deploy
// that did not finish.
func (c *Client) serviceContainer(ctx context.Context, service string) (container.InspectResponse, error) {
	if !ValidServiceName(service) {
		return container.InspectResponse{}, fmt.Errorf("%w: %q is not a service name", ErrNoSuchService, clipText(service, 40))
	}
	ctx, cancel := withDefaultTimeout(ctx, defaultCallTimeout)
	defer cancel()
	if err := c.negotiate(ctx); err != nil {
		return container.InspectResponse{}, fmt.Errorf("docker: find service %s: %w", service, err)
	}
	list, err := c.api.ContainerList(ctx, client.ContainerListOptions{
		All: true,
		Filters: make(client.Filters).
			Add("label", LabelProject+"="+c.project).
			Add("label", LabelService+"="+service),
	})
	if err != nil {
		return container.InspectResponse{}, fmt.Errorf("docker: find service %s of project %s: %w", service, c.project, err)
	}
	var main, aside []container.Summary
	for _, s := range list.Items {
		if s.Labels[LabelProject] != c.project || s.Labels[LabelService] != service || strings.EqualFold(s.Labels[labelOneOff], "true") {
			continue
		}
		name := ""
		if len(s.Names) > 0 {
			name = strings.TrimPrefix(s.Names[0], "/")
		}
		if strings.HasSuffix(name, asideSuffix) {
			aside = append(aside, s)
			continue
		}
		main = append(main, s)
	}
	switch {
	case len(aside) > 0:
		return container.InspectResponse{}, fmt.Errorf("%w: a deploy of %s did not finish: container %s is still set aside. "+
			"Check which one should run, then remove the other (docker rm) or rename it back",
			ErrNotDeployable, service, strings.TrimPrefix(aside[0].Names[0], "/"))
	case len(main) == 0:
		return container.InspectResponse{}, fmt.Errorf("%w: project %s has no service %q", ErrNoSuchService, c.project, service)
	case len(main) > 1:
		return container.InspectResponse{}, fmt.Errorf("%w: %s has %d containers; deploy replaces a service of one container", ErrNotDeployable, service, len(main))
	}
	res, err := c.api.ContainerInspect(ctx, main[0].ID, client.ContainerInspectOptions{})
	if err != nil {
		return container.InspectResponse{}, fmt.Errorf("docker: inspect %s: %w", service, err)
	}
	in := res.Container
	if in.Config == nil || in.HostConfig == nil || in.State == nil {
		return container.InspectResponse{}, fmt.Errorf("docker: inspect %s: the engine's answer lacks the container's configuration", service)
	}
	if in.HostConfig.AutoRemove {
		return container.InspectResponse{}, fmt.Errorf("%w: %s runs with --rm; stopping it would delete it, so it could not be put back", ErrNotDeployable, service)
	}
	return in, nil
}

// resolveImage finds a local image by reference or ID; it never pulls.
func (c *Client) resolveImage(ctx context.Context, ref string) (image.InspectResponse, error) {
	ctx, cancel := withDefaultTimeout(ctx, defaultCallTimeout)
	defer cancel()
	if err := c.negotiate(ctx); err != nil {
		return image.InspectResponse{}, fmt.Errorf("docker: inspect image %s: %w", ref, err)
	}
	res, err := c.api.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return image.InspectResponse{}, fmt.Errorf("%w: %s is not on this host (images are built or loaded here; nothing is pulled)", ErrNoImage, ref)
	}
	if err != nil {
		return image.InspectResponse{}, fmt.Errorf("docker: inspect image %s: %w", ref, err)
	}
	return res.InspectResponse, nil
}

// DeployRecordOf returns the deploy record of the service's container
// (zero when the bot did not create it).
func (c *Client) DeployRecordOf(ctx context.Context, service string) (DeployRecord, error) {
	in, err := c.serviceContainer(ctx, service)
	if err != nil {
		return DeployRecord{}, err
	}
	return recordFrom(in.Config.Labels), nil
}

// PlanDeploy checks a deploy of ref to service without changing anything:
// the service has one container, the image is on this host, and what the
// container runs now, by image ID.
func (c *Client) PlanDeploy(ctx context.Context, service, ref string) (DeployPlan, error) {
	ref, err := ParseImageRef(ref)
	if err != nil {
		return DeployPlan{}, err
	}
	in, err := c.serviceContainer(ctx, service)
	if err != nil {
		return DeployPlan{}, err
	}
	img, err := c.resolveImage(ctx, ref)
	if err != nil {
		return DeployPlan{}, err
	}
	return planFrom("deploy", service, in, ImageRef{ID: img.ID, Ref: ref}), nil
}

// PlanRollback checks a return of service to the image its container
// replaced, by ID. With service "" it picks the service the bot deployed
// most recently. The image must still be on this host.
func (c *Client) PlanRollback(ctx context.Context, service string) (DeployPlan, error) {
	if service == "" {
		s, err := c.LastDeployed(ctx)
		if err != nil {
			return DeployPlan{}, err
		}
		service = s
	}
	in, err := c.serviceContainer(ctx, service)
	if err != nil {
		return DeployPlan{}, err
	}
	rec := recordFrom(in.Config.Labels)
	if rec.Previous.ID == "" {
		return DeployPlan{}, fmt.Errorf("%w: there is no previous image to return to: the container of %s was not created by a deploy of the bot", ErrNoHistory, service)
	}
	img, err := c.resolveImage(ctx, rec.Previous.ID)
	if err != nil {
		return DeployPlan{}, fmt.Errorf("previous image of %s: %w", service, err)
	}
	target := ImageRef{ID: img.ID}
	// Name it by its old reference only while that still means this image.
	if rec.Previous.Ref != "" && !imageIDText.MatchString(rec.Previous.Ref) {
		if now, err := c.resolveImage(ctx, rec.Previous.Ref); err == nil && now.ID == img.ID {
			target.Ref = rec.Previous.Ref
		}
	}
	return planFrom("rollback", service, in, target), nil
}

// LastDeployed returns the service whose container the bot deployed most
// recently (by its deployed-at label), for a rollback without a service.
func (c *Client) LastDeployed(ctx context.Context) (string, error) {
	ctx, cancel := withDefaultTimeout(ctx, defaultCallTimeout)
	defer cancel()
	if err := c.negotiate(ctx); err != nil {
		return "", fmt.Errorf("docker: find the last deploy: %w", err)
	}
	list, err := c.api.ContainerList(ctx, client.ContainerListOptions{
		All: true,
		Filters: make(client.Filters).
			Add("label", LabelProject+"="+c.project).
			Add("label", LabelPreviousImage),
	})
	if err != nil {
		return "", fmt.Errorf("docker: find the last deploy in project %s: %w", c.project, err)
	}
	var best string
	var bestAt time.Time
	for _, s := range list.Items {
		if s.Labels[LabelProject] != c.project {
			continue
		}
		at, err := time.Parse(time.RFC3339, s.Labels[LabelDeployedAt])
		if err != nil {
			continue
		}
		if best == "" || at.After(bestAt) {
			best, bestAt = s.Labels[LabelService], at
		}
	}
	if best == "" {
		return "", fmt.Errorf("%w: no container of project %s was created by a deploy of the bot", ErrNoHistory, c.project)
	}
	return best, nil
}

func planFrom(action, service string, in container.InspectResponse, target ImageRef) DeployPlan {
	return DeployPlan{
		Action: action, Service: service,
		Container: strings.TrimPrefix(in.Name, "/"), ContainerID: in.ID,
		Running: in.State.Running || in.State.Restarting,
		Current: ImageRef{ID: in.Image, Ref: in.Config.Image},
		Target:  target,
		Record:  recordFrom(in.Config.Labels),
	}
}

// DeployOptions are the choices of one Apply.
type DeployOptions struct {
	// By is who asked, recorded in LabelDeployedBy.
	By string
	// HealthTimeout bounds waiting for the new container to be healthy
	// (default DefaultHealthTimeout); past it the old one is put back.
	HealthTimeout time.Duration
	// Settle is how long a container without a healthcheck must keep
	// running to count as up (default DefaultSettle).
	Settle time.Duration
	// Verify, when set, is the service's own health check beyond the
	// container's (the runbook's /health); it is retried until it passes
	// or HealthTimeout ends.
	Verify func(ctx context.Context, service string) error
	// Step, when set, is told each step as it starts (and the log too).
	Step func(step, detail string)
	// Now is the clock for LabelDeployedAt (default time.Now).
	Now func() time.Time
}

// DeployResult says what Apply did.
type DeployResult struct {
	Plan        DeployPlan
	ContainerID string // the service's container now
	// RolledBack: the new container was not healthy and the old one was
	// put back; Reason says why, Diagnostics hold its last log lines and
	// health check output.
	RolledBack bool
	Reason     string
	// PreflightFailed is why the service's own check (Verify) failed
	// before anything changed, "" when it passed or there is none: a
	// deploy meant to fix a failing service, or a check that is wrong.
	PreflightFailed string
	Diagnostics     []string
	Took            time.Duration
}

// Apply carries out a plan: the old container is stopped and renamed
// aside, a new one with the same configuration is created on the target
// image under the old name and started, and Apply waits for it to be
// healthy. Healthy: the old container is removed (its volumes are kept)
// and the result says so. Not healthy within the deadline: the new one
// is removed, the old one renamed back and started, and the result has
// RolledBack set (err is nil: the service is as it was). An error means
// the deploy could not be carried out, or putting the old one back
// failed too; its text says in which state the service is.
func (c *Client) Apply(ctx context.Context, plan DeployPlan, opts DeployOptions) (DeployResult, error) {
	start := time.Now()
	unlock := c.lockService(plan.Service)
	defer unlock()
	if opts.HealthTimeout <= 0 {
		opts.HealthTimeout = DefaultHealthTimeout
	}
	if opts.Settle <= 0 {
		opts.Settle = DefaultSettle
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	step := opts.Step
	if step == nil {
		step = func(string, string) {}
	}
	res := DeployResult{Plan: plan}

	// Nothing may have moved since the plan (a backup can take minutes).
	old, err := c.serviceContainer(ctx, plan.Service)
	if err != nil {
		return res, err
	}
	if old.ID != plan.ContainerID || old.Image != plan.Current.ID {
		return res, fmt.Errorf("%w: %s changed while the %s was being prepared (its container or image is not the one checked); nothing was done, try again",
			ErrNotDeployable, plan.Service, plan.Action)
	}
	var oldImg *image.InspectResponse
	if ii, err := c.resolveImage(ctx, old.Image); err == nil {
		oldImg = &ii
	}
	spec, err := recreateSpec(old, oldImg)
	if err != nil {
		return res, err
	}
	spec.cfg.Labels[LabelDeployedImage] = plan.Target.ID
	spec.cfg.Labels[LabelDeployedRef] = plan.Target.Ref
	spec.cfg.Labels[LabelPreviousImage] = plan.Current.ID
	spec.cfg.Labels[LabelPreviousRef] = plan.Current.Ref
	spec.cfg.Labels[LabelDeployedAt] = opts.Now().UTC().Format(time.RFC3339)
	spec.cfg.Labels[LabelDeployedBy] = opts.By
	spec.cfg.Labels[LabelDeployAction] = plan.Action

	recorded := fmt.Sprintf("%s runs %s; going to %s", plan.Service, plan.Current, plan.Target)
	if opts.Verify != nil && plan.Running {
		vctx, vcancel := context.WithTimeout(ctx, verifyCallTimeout)
		if err := opts.Verify(vctx, plan.Service); err != nil {
			res.PreflightFailed = err.Error()
			recorded += fmt.Sprintf(" (before the change, the service's check already fails: %v)", err)
		}
		vcancel()
	}
	step("recorded", recorded)

	name := plan.Container
	aside := name + asideSuffix
	st := &swap{c: c, old: old, name: name, aside: aside, wasRunning: plan.Running}
	if plan.Running {
		step("stopping old", fmt.Sprintf("stopping %s", name))
	}
	if err := st.setAside(ctx); err != nil {
		return res, st.fail(ctx, step, fmt.Errorf("set the old container aside: %w", err))
	}

	step("starting new", fmt.Sprintf("creating %s on %s", name, plan.Target))
	spec.cfg.Image = plan.Target.Ref
	if spec.cfg.Image == "" {
		spec.cfg.Image = plan.Target.ID
	}
	newID, err := c.createFrom(ctx, name, spec, plan.Target.ID)
	st.newID = newID
	if err != nil {
		return res, st.fail(ctx, step, fmt.Errorf("create the new container: %w", err))
	}
	if err := c.callStart(ctx, newID); err != nil {
		return res, st.fail(ctx, step, fmt.Errorf("start the new container: %w", err))
	}

	step("waiting for health", fmt.Sprintf("waiting up to %s for %s to be healthy", opts.HealthTimeout, plan.Service))
	why := c.waitHealthy(ctx, newID, plan.Service, opts)
	if why != "" {
		res.Reason = why
		res.Diagnostics = c.diagnostics(newID)
		step("rolling back", fmt.Sprintf("%s is not healthy on %s (%s); putting %s back", plan.Service, plan.Target, why, plan.Current))
		if err := st.restore(step); err != nil {
			return res, fmt.Errorf("%s was not healthy on %s (%s), and putting the old container back failed: %w", plan.Service, plan.Target, why, err)
		}
		res.RolledBack = true
		res.ContainerID = old.ID
		rctx, cancel := context.WithTimeout(context.Background(), restoreTimeout)
		defer cancel()
		if plan.Running {
			// The old container's own health, then the service's check
			// once: a check that fails for both versions says more about
			// the service (or the check) than about the deploy.
			back := opts
			back.Verify = nil
			if why2 := c.waitHealthy(rctx, old.ID, plan.Service, back); why2 != "" {
				res.Reason += "; after putting it back, the old container is not healthy either: " + why2
			} else if opts.Verify != nil {
				vctx, vcancel := context.WithTimeout(rctx, verifyCallTimeout)
				if err := opts.Verify(vctx, plan.Service); err != nil {
					res.Reason += "; after putting it back, the old container is healthy but the service's check still fails: " + err.Error()
				}
				vcancel()
			}
		}
		res.Took = time.Since(start)
		return res, nil
	}

	step("removing old", fmt.Sprintf("%s is healthy on %s; removing the old container", plan.Service, plan.Target))
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), defaultCallTimeout)
	defer cancel()
	if _, err := c.api.ContainerRemove(rctx, old.ID, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		res.Reason = fmt.Sprintf("the old container %s could not be removed (%v); remove it by hand", aside, err)
	}
	// Only now does the previous image lose its container: keep it from
	// being pruned. (Until now the old container held it; after a failed
	// deploy the tag still keeps the restored container's previous image.)
	if err := c.keepImage(rctx, plan.Service, plan.Current.ID); err != nil {
		res.Reason = strings.TrimPrefix(res.Reason+"; ", "; ") + err.Error() + " (a prune may remove the image a rollback needs)"
	}
	res.ContainerID = newID
	res.Took = time.Since(start)
	return res, nil
}

// keepImage tags id as KeepRepo/<project>-<service>:previous so that the
// image a rollback returns to is not pruned as dangling when its own tag
// moves to another image.
func (c *Client) keepImage(ctx context.Context, service, id string) error {
	ctx, cancel := withDefaultTimeout(ctx, defaultCallTimeout)
	defer cancel()
	ref := KeepRef(c.project, service)
	if _, err := c.api.ImageTag(ctx, client.ImageTagOptions{Source: id, Target: ref}); err != nil {
		return fmt.Errorf("docker: keep the previous image of %s as %s: %w", service, ref, err)
	}
	return nil
}

// KeepRef is the tag that keeps a service's previous image.
func KeepRef(project, service string) string {
	name := strings.Trim(keepRepoChar.ReplaceAllString(strings.ToLower(project+"-"+service), "-"), "-._")
	return KeepRepo + "/" + name + ":previous"
}

// swap is the state of a container replacement, for putting things back.
type swap struct {
	c                *Client
	old              container.InspectResponse
	name, aside      string
	wasRunning       bool
	stopped, renamed bool
	policyChanged    bool
	newID            string
}

// setAside stops the old container, keeps its restart policy from
// bringing it back while aside (a daemon restart would), and renames it.
func (s *swap) setAside(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx, restoreTimeout)
	defer cancel()
	if s.wasRunning {
		// nil timeout: the container's own stop timeout (stop_grace_period).
		if _, err := s.c.api.ContainerStop(ctx, s.old.ID, client.ContainerStopOptions{}); err != nil {
			return fmt.Errorf("stop %s: %w", s.name, err)
		}
		s.stopped = true
	}
	if rp := s.old.HostConfig.RestartPolicy; rp.Name != "" && rp.Name != container.RestartPolicyDisabled {
		if _, err := s.c.api.ContainerUpdate(ctx, s.old.ID, client.ContainerUpdateOptions{RestartPolicy: &container.RestartPolicy{Name: container.RestartPolicyDisabled}}); err != nil {
			return fmt.Errorf("pause the restart policy of %s: %w", s.name, err)
		}
		s.policyChanged = true
	}
	if _, err := s.c.api.ContainerRename(ctx, s.old.ID, client.ContainerRenameOptions{NewName: s.aside}); err != nil {
		return fmt.Errorf("rename %s to %s: %w", s.name, s.aside, err)
	}
	s.renamed = true
	return nil
}

// fail puts the old container back after a step failed and returns the
// error to report, saying whether the service is as it was.
func (s *swap) fail(ctx context.Context, step func(string, string), err error) error {
	step("rolling back", fmt.Sprintf("%v; putting the old container back", err))
	if rerr := s.restore(step); rerr != nil {
		return fmt.Errorf("%w; putting the old container back failed too: %v", err, rerr)
	}
	return fmt.Errorf("%w; the old container was put back", err)
}

// restore removes the new container and brings the old one back under its
// name, as it was. It runs on its own deadline: the request's may be gone.
func (s *swap) restore(step func(string, string)) error {
	ctx, cancel := context.WithTimeout(context.Background(), restoreTimeout)
	defer cancel()
	var errs []error
	if s.newID != "" {
		if _, err := s.c.api.ContainerRemove(ctx, s.newID, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove the new container: %w", err))
			return errors.Join(errs...) // it holds the name: nothing more can be done
		}
	}
	if s.renamed {
		if _, err := s.c.api.ContainerRename(ctx, s.old.ID, client.ContainerRenameOptions{NewName: s.name}); err != nil {
			return fmt.Errorf("rename %s back to %s: %w", s.aside, s.name, err)
		}
	}
	if s.policyChanged {
		rp := s.old.HostConfig.RestartPolicy
		if _, err := s.c.api.ContainerUpdate(ctx, s.old.ID, client.ContainerUpdateOptions{RestartPolicy: &rp}); err != nil {
			errs = append(errs, fmt.Errorf("restore the restart policy of %s: %w", s.name, err))
		}
	}
	if s.stopped {
		step("restarting old", fmt.Sprintf("starting %s again", s.name))
		if _, err := s.c.api.ContainerStart(ctx, s.old.ID, client.ContainerStartOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("start %s again: %w", s.name, err))
		}
	}
	return errors.Join(errs...)
}

func (c *Client) callStart(ctx context.Context, id string) error {
	ctx, cancel := withDefaultTimeout(ctx, defaultCallTimeout)
	defer cancel()
	_, err := c.api.ContainerStart(ctx, id, client.ContainerStartOptions{})
	return err
}

// spec is a container's configuration ready for create.
type spec struct {
	cfg     *container.Config
	host    *container.HostConfig
	primary string                               // network of NetworkMode, "" for none
	nets    map[string]*network.EndpointSettings // every network, by name
}

// createFrom creates the container and connects it to every network, and
// makes sure the engine resolved the reference to the planned image (a
// tag may move between plan and create); otherwise it creates it from
// the ID itself.
func (c *Client) createFrom(ctx context.Context, name string, sp spec, wantID string) (string, error) {
	ctx, cancel := withDefaultTimeout(ctx, defaultCallTimeout)
	defer cancel()
	create := func() (string, error) {
		var nc *network.NetworkingConfig
		if sp.primary != "" {
			if ep, ok := sp.nets[sp.primary]; ok {
				nc = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{sp.primary: ep}}
			}
		}
		created, err := c.api.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name, Config: sp.cfg, HostConfig: sp.host, NetworkingConfig: nc})
		if err != nil {
			return "", err
		}
		for _, n := range slices.Sorted(maps.Keys(sp.nets)) {
			if n == sp.primary {
				continue
			}
			if _, err := c.api.NetworkConnect(ctx, n, client.NetworkConnectOptions{Container: created.ID, EndpointConfig: sp.nets[n]}); err != nil {
				return created.ID, fmt.Errorf("connect to network %s: %w", n, err)
			}
		}
		return created.ID, nil
	}
	id, err := create()
	if err != nil {
		return id, err
	}
	in, err := c.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return id, fmt.Errorf("inspect the new container: %w", err)
	}
	if in.Container.Image == wantID {
		return id, nil
	}
	// The tag moved meanwhile: use the image itself.
	if _, err := c.api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true}); err != nil {
		return id, fmt.Errorf("remove a container created on the wrong image: %w", err)
	}
	sp.cfg.Image = wantID
	return create()
}

// recreateSpec builds the create request of a container like old: what
// was set for the container is kept; what it only inherited from its old
// image (environment, labels, command, entrypoint, user, working
// directory, healthcheck, exposed ports, volumes, stop signal) is left
// out, so that the new image's own values apply, as they would for a
// `docker-compose up` of the new image. Anonymous volumes are carried
// over by name, so their data stays with the service.
func recreateSpec(old container.InspectResponse, oldImg *image.InspectResponse) (spec, error) {
	cfg := *old.Config
	host := *old.HostConfig
	var ic imageDefaults
	if oldImg != nil && oldImg.Config != nil {
		c := oldImg.Config
		ic = imageDefaults{user: c.User, env: c.Env, cmd: c.Cmd, entrypoint: c.Entrypoint, workdir: c.WorkingDir,
			labels: c.Labels, exposed: c.ExposedPorts, volumes: c.Volumes, stopSignal: c.StopSignal}
		ic.health = c.Healthcheck
	}
	if cfg.Hostname == shortID(old.ID) {
		cfg.Hostname = "" // the engine's default: the new container's own ID
	}
	if cfg.User == ic.user {
		cfg.User = ""
	}
	if cfg.WorkingDir == ic.workdir {
		cfg.WorkingDir = ""
	}
	if cfg.StopSignal == ic.stopSignal {
		cfg.StopSignal = ""
	}
	entrypointInherited := slices.Equal(cfg.Entrypoint, ic.entrypoint)
	if entrypointInherited {
		cfg.Entrypoint = nil
	}
	// An entrypoint set for the container drops the image's command, so a
	// command equal to the image's was then set for the container too.
	if entrypointInherited && slices.Equal(cfg.Cmd, ic.cmd) {
		cfg.Cmd = nil
	}
	if ic.health != nil && cfg.Healthcheck != nil && healthEqual(*cfg.Healthcheck, *ic.health) {
		cfg.Healthcheck = nil
	}
	cfg.Env = slices.DeleteFunc(slices.Clone(cfg.Env), func(kv string) bool { return slices.Contains(ic.env, kv) })
	labels := map[string]string{}
	for k, v := range cfg.Labels {
		if iv, ok := ic.labels[k]; ok && iv == v {
			continue
		}
		switch k {
		case LabelDeployedImage, LabelDeployedRef, LabelPreviousImage, LabelPreviousRef, LabelDeployedAt, LabelDeployedBy, LabelDeployAction:
			continue
		}
		labels[k] = v
	}
	cfg.Labels = labels
	if len(cfg.ExposedPorts) > 0 {
		exposed := network.PortSet{}
		for p := range cfg.ExposedPorts {
			if _, ok := ic.exposed[p.String()]; !ok {
				exposed[p] = struct{}{}
			}
		}
		cfg.ExposedPorts = exposed
	}
	if len(cfg.Volumes) > 0 {
		vols := map[string]struct{}{}
		for v := range cfg.Volumes {
			if _, ok := ic.volumes[v]; !ok {
				vols[v] = struct{}{}
			}
		}
		cfg.Volumes = vols
	}

	// Anonymous volumes (from the image's VOLUME or the container's own
	// Volumes) are bound by name, as docker-compose does on recreate.
	explicit := map[string]bool{}
	for _, b := range host.Binds {
		parts := strings.Split(b, ":")
		if len(parts) >= 2 {
			explicit[parts[1]] = true
		}
	}
	for _, m := range host.Mounts {
		explicit[m.Target] = true
	}
	host.Binds = slices.Clone(host.Binds)
	for _, m := range old.Mounts {
		if m.Type != "volume" || m.Name == "" || explicit[m.Destination] {
			continue
		}
		b := m.Name + ":" + m.Destination
		if !m.RW {
			b += ":ro"
		}
		host.Binds = append(host.Binds, b)
	}
	// Inspect shows legacy links as /other:/this/alias; create takes other:alias.
	links := make([]string, 0, len(host.Links))
	for _, l := range host.Links {
		src, dst, ok := strings.Cut(l, ":")
		if !ok {
			links = append(links, l)
			continue
		}
		links = append(links, strings.TrimPrefix(src, "/")+":"+dst[strings.LastIndex(dst, "/")+1:])
	}
	if len(links) > 0 {
		host.Links = links
	} else {
		host.Links = nil
	}

	sp := spec{cfg: &cfg, host: &host, nets: map[string]*network.EndpointSettings{}}
	mode := string(host.NetworkMode)
	shareOther := mode == "host" || mode == "none" || strings.HasPrefix(mode, "container:")
	if old.NetworkSettings != nil && !shareOther {
		for name, ep := range old.NetworkSettings.Networks {
			if ep == nil {
				continue
			}
			n := &network.EndpointSettings{
				IPAMConfig: ep.IPAMConfig, Links: ep.Links, DriverOpts: ep.DriverOpts, GwPriority: ep.GwPriority,
			}
			// The engine adds the container's short ID as an alias; the new
			// container gets its own.
			for _, a := range ep.Aliases {
				if a != shortID(old.ID) && a != old.Config.Hostname {
					n.Aliases = append(n.Aliases, a)
				}
			}
			sp.nets[name] = n
			if name == mode || ep.NetworkID == mode || (mode == "default" || mode == "") && name == "bridge" {
				sp.primary = name
			}
		}
	}
	return sp, nil
}

type imageDefaults struct {
	user, workdir, stopSignal string
	env, cmd, entrypoint      []string
	labels                    map[string]string
	exposed, volumes          map[string]struct{}
	health                    *container.HealthConfig
}

func healthEqual(a, b container.HealthConfig) bool {
	return slices.Equal(a.Test, b.Test) && a.Interval == b.Interval && a.Timeout == b.Timeout &&
		a.StartPeriod == b.StartPeriod && a.StartInterval == b.StartInterval && a.Retries == b.Retries
}

// waitHealthy waits until the container is healthy (with a healthcheck)
// or has kept running for opts.Settle (without one), and then until
// opts.Verify passes. It returns "" when it is, else why not.
func (c *Client) waitHealthy(ctx context.Context, id, service string, opts DeployOptions) string {
	ctx, cancel := context.WithTimeout(ctx, opts.HealthTimeout)
	defer cancel()
	var runningSince time.Time
	last := "not checked yet"
	up := false
	for {
		if !up {
			ictx, icancel := context.WithTimeout(ctx, defaultCallTimeout)
			res, err := c.api.ContainerInspect(ictx, id, client.ContainerInspectOptions{})
			icancel()
			if err != nil {
				last = "inspect: " + err.Error()
			} else if st := res.Container.State; st != nil {
				switch {
				case st.Status == container.StateExited || st.Status == container.StateDead:
					return fmt.Sprintf("the container exited with code %d", st.ExitCode)
				case res.Container.RestartCount > 0 || st.Restarting:
					return fmt.Sprintf("the container is restarting (restarted %d times)", res.Container.RestartCount)
				case st.Health != nil:
					switch st.Health.Status {
					case container.Healthy:
						up = true
					case container.Unhealthy:
						return "its healthcheck failed" + healthOutput(st.Health)
					default:
						last = "health still " + string(st.Health.Status) + healthOutput(st.Health)
					}
				case st.Running:
					if runningSince.IsZero() {
						runningSince = time.Now()
					}
					if time.Since(runningSince) >= opts.Settle {
						up = true
					} else {
						last = "running for " + time.Since(runningSince).Round(time.Millisecond).String()
					}
				default:
					last = "state " + string(st.Status)
				}
			}
		}
		if up {
			if opts.Verify == nil {
				return ""
			}
			vctx, vcancel := context.WithTimeout(ctx, verifyCallTimeout)
			err := opts.Verify(vctx, service)
			vcancel()
			if err == nil {
				return ""
			}
			last = "container healthy, but " + err.Error()
		}
		select {
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return fmt.Sprintf("not healthy within %s (%s)", opts.HealthTimeout, last)
			}
			return "cancelled while waiting for health (" + last + ")"
		case <-time.After(healthPoll):
		}
	}
}

func healthOutput(h *container.Health) string {
	if h == nil || len(h.Log) == 0 {
		return ""
	}
	l := h.Log[len(h.Log)-1]
	out := strings.TrimSpace(l.Output)
	if out == "" {
		return " (exit " + strconv.Itoa(l.ExitCode) + ")"
	}
	return ": " + clipText(strings.ReplaceAll(out, "\n", " "), 200)
}

// diagnostics returns the last log lines of a container that failed its
// deploy, for the report; best effort.
func (c *Client) diagnostics(id string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ring []string
	_ = c.ScanLogs(ctx, id, time.Time{}, func(_ time.Time, line []byte) {
		ring = append(ring, clipText(string(line), 300))
		if len(ring) > diagnosticLines {
			ring = ring[1:]
		}
	})
	return ring
}
