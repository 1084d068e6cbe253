package workerpool

import "time"

// Pool runs jobs of type T with its run function on reused goroutines.
//
// Invariants: a worker runs one job at a time; Go never blocks (a job goes
// to a worker waiting for one, else to a new worker); a worker that has
// waited about the idle period without a job ends.
type Pool[T any] struct {
	jobs chan T
	idle time.Duration
	run  func(T)
}

// New returns a pool that runs each job with run and lets a worker end once
// it has had nothing to do for idle.
func New[T any](idle time.Duration, run func(T)) *Pool[T] {
	return &Pool[T]{jobs: make(chan T), idle: idle, run: run}
}

// Go runs job on a waiting worker, or on a new one. It does not wait for
// the job.
func (p *Pool[T]) Go(job T) {
	select {
	case p.jobs <- job:
	default:
		go p.work(job)
	}
}

// work runs job, then the jobs handed over p.jobs, until it has been idle
// for p.idle.
func (p *Pool[T]) work(job T) {
	idle := time.NewTimer(p.idle)
	defer idle.Stop()
	armed := time.Now()
	var zero T
	for {
		p.run(job)
		job = zero // hold nothing while waiting
		// Resetting the timer after every job would cost more than the
		// jobs themselves at high rates; once per tenth of the period is
		// enough to end only workers idle for about the period.
		if now := time.Now(); now.Sub(armed) > p.idle/10 {
			idle.Reset(p.idle)
			armed = now
		}
		select {
		case job = <-p.jobs:
		case <-idle.C:
			return
		}
	}
}
