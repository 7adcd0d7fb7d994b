package slack

import "sync"

// workQueue hands commands and button presses to a fixed set of worker
// goroutines (Options.MaxRunning) in arrival order. Pushing never blocks,
// so the goroutine that acks envelopes never waits for work; long-lived
// workers keep their grown stacks instead of each command starting a new
// goroutine and growing one (runtime.copystack was a seventh of the
// bot's CPU under load).
type workQueue struct {
	mu     sync.Mutex
	cond   sync.Cond
	jobs   []func()
	closed bool
}

func newWorkQueue() *workQueue {
	q := &workQueue{}
	q.cond.L = &q.mu
	return q
}

func (q *workQueue) push(fn func()) {
	q.mu.Lock()
	q.jobs = append(q.jobs, fn)
	q.mu.Unlock()
	q.cond.Signal()
}

// pop waits for the next job; false once the queue is closed and empty.
func (q *workQueue) pop() (func(), bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.jobs) == 0 && !q.closed {
		q.cond.Wait()
	}
	if len(q.jobs) == 0 {
		return nil, false
	}
	fn := q.jobs[0]
	q.jobs[0] = nil
	q.jobs = q.jobs[1:]
	return fn, true
}

// close lets the workers end once the queue is empty.
func (q *workQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}
