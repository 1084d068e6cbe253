package redis

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/redis/rueidis"
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

// inOrder returns a function that queues each message it is given and
// returns at once; fn handles them, in order, on a goroutine of its own
// until ctx is done. A rueidis Receive callback must not block: the
// connection's reader waits for it once 16 messages are pending, and the
// replies to commands on that connection (an answer that the handler
// publishes, say) wait with it.
func inOrder(ctx context.Context, fn func(rueidis.PubSubMessage)) func(rueidis.PubSubMessage) {
	var mu sync.Mutex
	var q []rueidis.PubSubMessage
	wake := make(chan struct{}, 1)
	go func() {
		var batch []rueidis.PubSubMessage
		for {
			select {
			case <-wake:
			case <-ctx.Done():
				return
			}
			mu.Lock()
			batch, q = q, batch[:0]
			mu.Unlock()
			for i, m := range batch {
				fn(m)
				batch[i] = rueidis.PubSubMessage{}
			}
		}
	}()
	return func(m rueidis.PubSubMessage) {
		mu.Lock()
		q = append(q, m)
		mu.Unlock()
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}
