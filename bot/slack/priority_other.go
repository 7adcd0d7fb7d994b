//go:build !linux

package slack

// lowerWorkerPriority does nothing where threads have no nice value of
// their own.
func lowerWorkerPriority() error { return nil }
