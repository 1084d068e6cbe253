package redis

import (
	"context"
	"fmt"
	neturl "net/url"
	"time"

	"github.com/redis/rueidis"
)

// Connect connects to the Redis server at url (redis://, rediss://, with a
// user, password and database; unix:// for a socket; see rueidis.ParseURL
// for Sentinel and cluster addresses) and checks that it answers.
func Connect(ctx context.Context, url string) (rueidis.Client, error) {
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis: invalid URL: %w", err)
	}
	opt.DisableCache = true // no client-side caching: nothing here reads keys twice
	if opt.Dialer.Timeout == 0 {
		opt.Dialer.Timeout = 5 * time.Second
	}
	c, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("redis: failed to connect to %s: %w", redact(url), err)
	}
	if err := c.Do(ctx, c.B().Ping().Build()).Error(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis: %s does not answer: %w", redact(url), err)
	}
	return c, nil
}

// redact returns url without its password, for messages.
func redact(raw string) string {
	u, err := neturl.Parse(raw)
	if err != nil {
		return "the Redis URL"
	}
	return u.Redacted()
}

// publish runs cmds, PUBLISH commands, in one round trip and returns the
// first error. On Redis Cluster a PUBLISH has no slot and may go to any
// node; rueidis sends such a command alone (Do) to a node picked at random
// each time, but a batch of them (DoMulti) to one node, the master of the
// lowest slot, every time while the cluster's shape holds. Publishes of one
// sender must take one node: Redis keeps the order of the messages a node
// receives, but two nodes forward theirs to the others independently, so
// publishes spread over nodes could arrive out of order (an emitter's
// events, a polling session's packets). Elsewhere it is DoMulti.
func publish(ctx context.Context, c rueidis.Client, cmds ...rueidis.Completed) error {
	for _, r := range c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return err
		}
	}
	return nil
}
