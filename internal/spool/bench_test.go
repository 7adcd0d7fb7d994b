package spool

import (
	"context"
	"testing"
)

// BenchmarkAppend is one durable record: write and fsync (256-byte payload).
func BenchmarkAppend(b *testing.B) {
	s := mustOpen(b, b.TempDir())
	defer s.Close()
	payload := make([]byte, 256)
	for b.Loop() {
		if _, err := s.Append("audit", payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/record")
}

// BenchmarkReplay is one record handed over and durably forgotten (the
// ack's fsync), with a receiver that takes everything at once.
func BenchmarkReplay(b *testing.B) {
	s := mustOpen(b, b.TempDir())
	defer s.Close()
	payload := make([]byte, 256)
	for i := 0; i < b.N; i++ {
		if _, err := s.Append("audit", payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	n, err := s.Replay(context.Background(), func(context.Context, Record) error { return nil })
	if err != nil || n != b.N {
		b.Fatalf("Replay = %d, %v; want %d", n, err, b.N)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/record")
}
