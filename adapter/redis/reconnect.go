package redis

import (
	"context"
	"encoding/json"
	"time"
)

// backoff spaces out retries while Redis is out of reach: 100 ms, doubling
// up to 5 s.
type backoff struct{ d time.Duration }

func newBackoff() *backoff { return &backoff{d: 100 * time.Millisecond} }

func (b *backoff) reset() { b.d = 100 * time.Millisecond }

// wait sleeps for the current delay and doubles it; it returns false when
// ctx is done first.
func (b *backoff) wait(ctx context.Context) bool {
	t := time.NewTimer(b.d)
	defer t.Stop()
	b.d = min(2*b.d, 5*time.Second)
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// roundTripJSON returns what encoding/json makes of v when decoded into
// an any: maps, slices, strings, float64s, bools and nils only.
func roundTripJSON(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(b, &out)
	return out, err
}
