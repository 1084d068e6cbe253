// Package uring makes many non-blocking sends to sockets (and receives,
// and epoll_ctl(2) calls) with one system call, through Linux's io_uring.
//
// A broadcast writes one small frame to each of thousands of sockets. Made
// as one write(2) each, every delivery pays a system call's entry and exit
// on top of the kernel's work on the data; on a machine with kernel page
// table isolation (and in a virtual machine) that round trip costs as
// much as the send itself. A [Ring] gathers the sends of many receivers
// and hands them to the kernel with one io_uring_enter(2): measured with
// bench/cmd/writefloor's pattern (1,000 loopback sockets, 20 sends a
// second each), the CPU of the whole machine per delivery fell by about a
// fifth, the sender's own by half (BENCHMARKS.md).
//
// Receives serve an event loop that reads every connection epoll found
// ready with one call ([Ring.Recv]), and then arms them again with one
// more, together with their replies ([Ring.EpollCtl]).
//
// Every send and receive is made with MSG_DONTWAIT: it takes what the
// socket's buffer takes (or holds) at once and never waits, as a call on
// a non-blocking descriptor does, so that io_uring never holds one for
// later and the results are all known when [Ring.Submit] returns. MSG_NOSIGNAL keeps a send to a
// closed peer from raising SIGPIPE.
//
// Invariants: a Ring is used by one goroutine at a time; the memory a
// queued send names stays referenced by the caller until Submit returns
// (the kernel reads it then, and the garbage collector does not see the
// ring's copy of the pointer); Submit returns only when every queued send
// has its result, so nothing the kernel reads outlives it.
//
// Where io_uring is missing (other systems, kernels before 5.6, a seccomp
// filter or kernel.io_uring_disabled that refuse it) [New] reports an
// error and callers write one socket at a time.
package uring
