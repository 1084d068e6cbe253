package load

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram records durations with a relative error of at most 1/1024
// (about 0.1 %), from 1 ns to about 9 minutes (longer ones count as the
// maximum), in the manner of HdrHistogram: values below 2048 ns have a
// counter each; above, each power of two is split into 1024 equal
// counters. Recording is lock-free and allocates nothing; histograms of
// several processes merge by adding their counters.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64 // nanoseconds
	max    atomic.Int64
	min    atomic.Int64 // 0 while empty; values are stored + 1
}

const (
	subBits    = 11
	subCount   = 1 << subBits // 2048
	halfCount  = subCount / 2 // 1024
	maxShift   = 29           // values up to 2^40 ns (about 18 minutes)
	numBuckets = subCount + maxShift*halfCount
	maxValue   = int64(1)<<(subBits+maxShift) - 1
)

// index returns the counter of v (≥ 0).
func index(v int64) int {
	if v < subCount {
		return int(v)
	}
	if v > maxValue {
		v = maxValue
	}
	shift := bits.Len64(uint64(v)) - subBits // ≥ 1
	top := int(v >> shift)                   // in [1024, 2047]
	return subCount + (shift-1)*halfCount + top - halfCount
}

// highest returns the largest value that counts in counter i.
func highest(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	j := i - subCount
	shift := j/halfCount + 1
	top := int64(j%halfCount + halfCount)
	return (top+1)<<shift - 1
}

// Record adds one duration (negative ones count as 0).
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[index(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(uint64(v))
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			break
		}
	}
	for {
		m := h.min.Load()
		if (m != 0 && v+1 >= m) || h.min.CompareAndSwap(m, v+1) {
			break
		}
	}
}

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max returns the largest value recorded.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Min returns the smallest value recorded.
func (h *Histogram) Min() time.Duration {
	m := h.min.Load()
	if m == 0 {
		return 0
	}
	return time.Duration(m - 1)
}

// Mean returns the average of the values recorded.
func (h *Histogram) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / n)
}

// Quantile returns the value below which the share q (0 to 1) of the
// values fall: the highest value of the counter that holds the
// ceil(q × count)-th value, at most the maximum recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.999999)
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return min(time.Duration(highest(i)), h.Max())
		}
	}
	return h.Max()
}

// Snapshot is a histogram's data in a form that travels (JSON) between
// processes: its counters as [index, count] pairs, without the empty
// ones.
type Snapshot struct {
	Counts [][2]uint64 `json:"counts,omitempty"`
	N      uint64      `json:"n"`
	Sum    uint64      `json:"sum"`
	Max    int64       `json:"max"`
	Min    int64       `json:"min"`
}

// Snapshot returns the histogram's data.
func (h *Histogram) Snapshot() Snapshot {
	s := Snapshot{N: h.n.Load(), Sum: h.sum.Load(), Max: h.max.Load(), Min: int64(h.Min())}
	for i := range h.counts {
		if c := h.counts[i].Load(); c > 0 {
			s.Counts = append(s.Counts, [2]uint64{uint64(i), c})
		}
	}
	return s
}

// Merge adds the values of s to the histogram.
func (h *Histogram) Merge(s Snapshot) {
	for _, c := range s.Counts {
		if c[0] < numBuckets {
			h.counts[c[0]].Add(c[1])
		}
	}
	if s.N == 0 {
		return
	}
	h.n.Add(s.N)
	h.sum.Add(s.Sum)
	for {
		m := h.max.Load()
		if s.Max <= m || h.max.CompareAndSwap(m, s.Max) {
			break
		}
	}
	for {
		m := h.min.Load()
		if (m != 0 && s.Min+1 >= m) || h.min.CompareAndSwap(m, s.Min+1) {
			break
		}
	}
}

// Reset empties the histogram. It must not race with Record.
func (h *Histogram) Reset() {
	for i := range h.counts {
		h.counts[i].Store(0)
	}
	h.n.Store(0)
	h.sum.Store(0)
	h.max.Store(0)
	h.min.Store(0)
}
