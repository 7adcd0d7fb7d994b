package slack

import (
	"runtime"
	"syscall"
)

// workerNice is the nice value of the workers' threads: below the
// threads that read envelopes and write acks, which keep the process's.
const workerNice = 10

// lowerWorkerPriority pins the calling goroutine (a worker) to its own
// OS thread and lowers that thread's scheduling priority. Linux shares
// CPU between threads by how much each ran lately: when commands ran on
// the same threads as the ack path, every thread woke for the next
// envelope carrying the commands' CPU time and queued behind the
// machine's other work, which doubled the bot's median ack latency under
// load (BenchmarkSlackAck). Raising nice needs no privilege; a refusal
// changes nothing else.
func lowerWorkerPriority() error {
	runtime.LockOSThread() // for good: the thread ends with the worker
	return syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), workerNice)
}
