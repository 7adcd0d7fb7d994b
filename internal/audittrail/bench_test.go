package audittrail

import (
	"testing"

	"github.com/shiftwise/shiftwise-bot/internal/store"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// BenchmarkAppendDirect is one audit entry with the database up: the
// chained insert plus the digest file written (fsync, rename).
func BenchmarkAppendDirect(b *testing.B) {
	st, err := store.Open(b.Context(), testenv.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	tr, _ := newTrail(b, b.TempDir(), func() *store.Store { return st })
	for b.Loop() {
		if err := tr.Append(b.Context(), entryN(1)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}

// BenchmarkAppendSpooled is one audit entry with the database down: into
// the spool (fsync).
func BenchmarkAppendSpooled(b *testing.B) {
	tr, _ := newTrail(b, b.TempDir(), func() *store.Store { return nil })
	for b.Loop() {
		if err := tr.Append(b.Context(), entryN(1)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}
