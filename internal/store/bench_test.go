package store

import (
	"testing"
	"time"
)

// BenchmarkDecide is a request's round trip through PostgreSQL: create it
// and approve it.
func BenchmarkDecide(b *testing.B) {
	s := newStore(b)
	ctx := ctxFor(b)
	req := request("slack:UREQ")
	for b.Loop() {
		a, err := s.CreateApproval(ctx, req, 15*time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Decide(ctx, a.ID, "slack:UDEV", true, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}

// BenchmarkApprovalRoundTrip is request → approve → executed.
func BenchmarkApprovalRoundTrip(b *testing.B) {
	s := newStore(b)
	ctx := ctxFor(b)
	req := request("slack:UREQ")
	for b.Loop() {
		a, err := s.CreateApproval(ctx, req, 15*time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Decide(ctx, a.ID, "slack:UDEV", true, time.Now()); err != nil {
			b.Fatal(err)
		}
		if err := s.MarkExecuted(ctx, a.ID, "ok", true); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}

// BenchmarkAppend is one audit entry appended to the chain.
func BenchmarkAppend(b *testing.B) {
	s := newStore(b)
	ctx := ctxFor(b)
	for b.Loop() {
		if _, err := s.Append(ctx, entry(1)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}
