package slacktest

import (
	"slices"
	"time"
)

// LoadReport summarises a Load run.
type LoadReport struct {
	Sent, Acked   int
	P50, P99, Max time.Duration // ack latency of the acked envelopes
	// SendLag is how far behind schedule the sender fell at worst: a large
	// value means the sending side (the fake or send) was the bottleneck.
	SendLag  time.Duration
	Duration time.Duration // from the first send to the last ack (or the end of the wait)
}

// Load calls send(0), send(1), … at rate calls per second for d, then waits up
// to wait for the acks of the envelopes sent, and reports. send usually wraps
// SlashCommand, Mention or BlockAction. The fake keeps per-envelope work small
// and logs nothing per envelope, so it handles a few hundred envelopes a
// second without becoming the bottleneck.
func (s *Server) Load(rate int, d, wait time.Duration, send func(i int) Envelope) LoadReport {
	var r LoadReport
	if rate <= 0 || d <= 0 {
		return r
	}
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	sent := make(map[string]time.Time)
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if due.Sub(start) >= d {
			break
		}
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		r.SendLag = max(r.SendLag, time.Since(due))
		e := send(i)
		sent[e.ID] = e.SentAt
		r.Sent++
	}
	s.waitFor(wait, func() bool {
		for id := range sent {
			if st, ok := s.envs[id]; !ok || !st.acked {
				return false
			}
		}
		return true
	})
	var lat []time.Duration
	last := start
	for _, a := range s.Acks() {
		if _, ok := sent[a.EnvelopeID]; ok {
			lat = append(lat, a.Latency())
			last = a.At
		}
	}
	r.Acked = len(lat)
	r.Duration = last.Sub(start)
	if len(lat) > 0 {
		slices.Sort(lat)
		r.P50 = lat[len(lat)/2]
		r.P99 = lat[min(len(lat)-1, len(lat)*99/100)]
		r.Max = lat[len(lat)-1]
	}
	return r
}
