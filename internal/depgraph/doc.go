// Package depgraph holds no code: its test checks the module's import
// graph against the dependency rules of DESIGN.md (go list), so that a
// package under internal/ or integrations/ reaching commands or a
// transport, the core importing commands, or a client library leaving its
// one package fails the build's tests.
package depgraph
