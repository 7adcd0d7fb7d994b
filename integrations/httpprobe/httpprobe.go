// Package httpprobe checks an HTTP endpoint the way the runbook's
// `curl -f http://localhost:3000/health` does: one GET, its status code and
// how long it took. Judging the status is the caller's business; a probe
// fails only when no answer came.
package httpprobe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

const (
	// MaxBody is how much of the answer's body a probe reads before it
	// stops; a health endpoint that streams forever cannot hold it.
	MaxBody = 64 << 10
	// MaxRedirects is how many redirects a probe follows; the answer after
	// that many is the result (a 3xx status).
	MaxRedirects = 3
	// DefaultTimeout applies when the context has no deadline.
	DefaultTimeout = 10 * time.Second
)

// Result is what a probe saw.
type Result struct {
	URL        string // the URL probed, any password replaced by xxxxx
	StatusCode int
	Duration   time.Duration // until the headers arrived and the body was read (up to MaxBody)
}

// Probe GETs rawURL with client (http.DefaultClient's transport when nil) and
// returns the status code and the time taken. It follows at most
// MaxRedirects redirects, reads at most MaxBody bytes of the body, and
// gives up at the context's deadline (DefaultTimeout when it has none).
// Any status, 500 included, is a Result with a nil error. Errors name the
// URL with its password redacted; when the headers came but reading the
// body failed, the Result holds the status next to the error.
func Probe(ctx context.Context, client *http.Client, rawURL string) (Result, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse's message repeats the raw URL, password included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Result{}, fmt.Errorf("probe: invalid URL: %w", err)
	}
	res := Result{URL: u.Redacted()}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return res, fmt.Errorf("probe %s: want an http:// or https:// URL with a host", res.URL)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}

	c := http.Client{}
	if client != nil {
		c = *client
	}
	next := c.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) > MaxRedirects {
			return http.ErrUseLastResponse
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return res, fmt.Errorf("probe %s: %w", res.URL, err)
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		// The client's url.Error names the URL itself (password as ***);
		// keep only its cause under our own, consistently redacted, name.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return res, fmt.Errorf("probe %s: %w", res.URL, err)
	}
	defer resp.Body.Close()
	res.StatusCode = resp.StatusCode
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxBody))
	res.Duration = time.Since(start)
	if err != nil {
		return res, fmt.Errorf("probe %s: read body after %s: %w", res.URL, resp.Status, err)
	}
	return res, nil
}
