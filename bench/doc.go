// Package bench compares the Tether WebSocket engine with
// github.com/gorilla/websocket, github.com/lxzan/gws and
// github.com/coder/websocket: echo servers and clients built the idiomatic
// way for each library ([Libraries]), the allocation benchmarks in this
// package's tests, and cmd/loadtest for throughput, latency and memory per
// idle connection. It is a module of its own, so the competitors never
// become dependencies of Tether itself. See BENCHMARKS.md at the root.
package bench
