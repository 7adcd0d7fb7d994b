package permissions

import (
	"testing"

	"github.com/casbin/casbin/v2"
)

// The policy file, p2 lines included, stays loadable by Casbin's own file
// adapter with model.conf, so Casbin's tools can read it.
func TestFileLoadsInCasbin(t *testing.T) {
	e, err := casbin.NewEnforcer("model.conf", "example-policy.csv")
	if err != nil {
		t.Fatal(err)
	}
	p2, err := e.GetNamedPolicy("p2")
	if err != nil || len(p2) != 2 {
		t.Errorf("p2 = %v, %v", p2, err)
	}
	ok, err := e.Enforce("console:alice", "console:*", "health", "level1")
	if err != nil || !ok {
		t.Errorf("enforce = %v, %v", ok, err)
	}
}
