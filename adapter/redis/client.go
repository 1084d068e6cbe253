package redis

import (
	"context"
	"fmt"
	"math/rand/v2"
	neturl "net/url"
	"time"

	"github.com/redis/rueidis"
)

// clusterRefresh is how often a Redis Cluster client reads the cluster's
// shape.
const clusterRefresh = 5 * time.Second

// Connect connects to the Redis server at url and checks that it answers.
// The URL has the forms of rueidis.ParseURL: redis:// or rediss://, with a
// user, password and database; unix:// for a socket; for Redis Cluster the
// address of any node, more with ?addr=host:port (rueidis finds out that it
// is a cluster); for Sentinel the sentinels' addresses and
// ?master_set=name. Every adapter of this package works on Redis Cluster
// (sharded pub/sub is the one meant for it).
func Connect(ctx context.Context, url string) (rueidis.Client, error) {
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis: invalid URL: %w", err)
	}
	opt.DisableCache = true // no client-side caching: nothing here reads keys twice
	if opt.Dialer.Timeout == 0 {
		opt.Dialer.Timeout = 5 * time.Second
	}
	// On Redis Cluster, read the cluster's shape every few seconds, not
	// only when a command meets a moved slot: the servers are counted on
	// the nodes the client knows, and a node that a failover turned into a
	// replica (still holding subscriptions) may be missing from the view
	// read during the failover. Ignored by the other clients.
	if opt.ClusterOption.ShardsRefreshInterval == 0 {
		opt.ClusterOption.ShardsRefreshInterval = clusterRefresh
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

// pinToMaster makes dc, a dedicated connection of a Redis Cluster client,
// a connection to a master: a dedicated connection goes where its first
// command does, and a SUBSCRIBE, which has no slot, would take any node.
// The command is a harmless one with a slot, of a channel named after
// prefix and a random number, so that the servers spread over the masters.
// Subscriptions are held on masters because masters are what every server
// counts subscribers on (NUMSUB): a client's view of the cluster may lack a
// replica (CLUSTER SLOTS omits one with no replication offset yet), and
// node-redis subscribes and counts on masters only.
func pinToMaster(ctx context.Context, dc rueidis.DedicatedClient, prefix string) error {
	pin := fmt.Sprintf("%s-pin#%d", prefix, rand.Uint32())
	if err := dc.Do(ctx, dc.B().PubsubShardnumsub().Channel(pin).Build()).Error(); err != nil {
		return fmt.Errorf("failed to reach a master of the cluster: %w", err)
	}
	return nil
}

// receive is c.Receive(ctx, subscribe, fn) for a SUBSCRIBE, held on a
// master on Redis Cluster (see pinToMaster).
func receive(ctx context.Context, c rueidis.Client, prefix string, subscribe rueidis.Completed, fn func(rueidis.PubSubMessage)) error {
	if c.Mode() != rueidis.ClientModeCluster {
		return c.Receive(ctx, subscribe, fn)
	}
	dc, release := c.Dedicate()
	defer release()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := pinToMaster(pctx, dc, prefix)
	cancel()
	if err != nil {
		return err
	}
	return dc.Receive(ctx, subscribe, fn)
}
