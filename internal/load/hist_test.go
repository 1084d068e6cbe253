package load

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestHistogramIndex: every value falls in a counter whose range holds
// it, the ranges tile the line, and the relative error is at most 1/1024.
func TestHistogramIndex(t *testing.T) {
	prevHigh := int64(-1)
	for i := range numBuckets {
		hi := highest(i)
		lo := prevHigh + 1
		if index(lo) != i || index(hi) != i {
			t.Fatalf("counter %d: [%d, %d] indexes %d and %d", i, lo, hi, index(lo), index(hi))
		}
		if lo > 0 && float64(hi-lo)/float64(lo) > 1.0/1024 {
			t.Fatalf("counter %d: [%d, %d] is wider than 1/1024", i, lo, hi)
		}
		prevHigh = hi
	}
	if prevHigh != maxValue {
		t.Fatalf("last counter ends at %d, want %d", prevHigh, maxValue)
	}
	if index(maxValue*4) != numBuckets-1 {
		t.Fatal("a value over the maximum is not in the last counter")
	}
}

// TestHistogramQuantiles against the exact quantiles of random data.
func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]int64, 100000)
	for i := range vals {
		vals[i] = int64(r.ExpFloat64() * float64(2*time.Millisecond))
		h.Record(time.Duration(vals[i]))
	}
	slices.Sort(vals)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		rank := int(q*float64(len(vals))+0.999999) - 1
		exact := vals[rank]
		got := int64(h.Quantile(q))
		if got < exact || float64(got-exact) > float64(exact)/1024+1 {
			t.Fatalf("q%v = %d, exact %d", q, got, exact)
		}
	}
	if h.Max() != time.Duration(vals[len(vals)-1]) || h.Min() != time.Duration(vals[0]) || h.Count() != uint64(len(vals)) {
		t.Fatalf("max %v min %v count %d", h.Max(), h.Min(), h.Count())
	}
	// Merging two halves gives the whole.
	var a, b, m Histogram
	for i, v := range vals {
		if i%2 == 0 {
			a.Record(time.Duration(v))
		} else {
			b.Record(time.Duration(v))
		}
	}
	m.Merge(a.Snapshot())
	m.Merge(b.Snapshot())
	for _, q := range []float64{0.5, 0.99, 0.999} {
		if m.Quantile(q) != h.Quantile(q) {
			t.Fatalf("merged q%v = %v, whole %v", q, m.Quantile(q), h.Quantile(q))
		}
	}
	if m.Count() != h.Count() || m.Max() != h.Max() || m.Min() != h.Min() || m.Mean() != h.Mean() {
		t.Fatal("merged totals differ")
	}
	var empty Histogram
	if empty.Quantile(0.99) != 0 || empty.Min() != 0 {
		t.Fatal("an empty histogram is not zero")
	}
}
