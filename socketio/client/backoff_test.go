package client

import (
	"testing"
	"time"
)

// TestBackoff: the delay doubles per attempt from ReconnectionDelay, stays
// within ± RandomizationFactor of that, and never passes the maximum.
func TestBackoff(t *testing.T) {
	const delay, max = 100 * time.Millisecond, 5 * time.Second
	for attempt := range 10 {
		base := float64(delay) * float64(int(1)<<attempt)
		for _, r := range []float64{0, 0.05, 0.15, 0.5, 0.77, 0.999} {
			d := backoff(delay, max, 0.5, attempt, r)
			lo, hi := time.Duration(base*0.5), time.Duration(base*1.5)
			if d > max || (d < lo && d < max) || (d > hi) {
				t.Fatalf("attempt %d, r %v: %v outside [%v, %v] (max %v)", attempt, r, d, lo, hi, max)
			}
		}
		if d := backoff(delay, max, 0, attempt, 0.7); d != min(time.Duration(base), max) {
			t.Fatalf("attempt %d without jitter: %v", attempt, d)
		}
	}
	// Both directions of jitter happen.
	if a, b := backoff(delay, max, 0.5, 0, 0.05), backoff(delay, max, 0.5, 0, 0.15); !(a < delay && b > delay) {
		t.Fatalf("jitter: %v and %v around %v", a, b, delay)
	}
	if d := backoff(delay, max, 0.5, 1000, 0.3); d != max {
		t.Fatalf("attempt 1000: %v", d)
	}
}
