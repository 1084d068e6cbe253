package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"
	"github.com/tether-rt/tether/adapter/cluster"
	"github.com/tether-rt/tether/adapter/redis"
	"github.com/tether-rt/tether/engineio"
	"github.com/tether-rt/tether/socketio"
)

// clusterNode is the server's place in a cluster through Redis: the client,
// the adapter factory of its namespaces, and what stops them.
type clusterNode struct {
	id      string
	adapter string
	client  rueidis.Client
	factory socketio.AdapterFactory
	// engine routes the requests of other nodes' sessions (nil when
	// route_polling is off).
	engine *engineio.ClusterOptions
	stop   func()
}

// newClusterNode connects to the cluster's Redis and makes the adapter
// factory of c.Cluster.Adapter, with connection state recovery as c says.
func newClusterNode(c *Config, log *slog.Logger, m *metrics) (*clusterNode, error) {
	cc := &c.Cluster
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := redis.Connect(ctx, cc.RedisURL)
	if err != nil {
		return nil, err
	}
	n := &clusterNode{id: cc.NodeID, adapter: cc.Adapter, client: client, stop: client.Close}
	if n.id == "" {
		n.id, _ = os.Hostname()
	}
	var recovery *socketio.RecoveryOptions
	if c.Recovery.Enabled {
		recovery = &socketio.RecoveryOptions{MaxDisconnectionDuration: c.Recovery.MaxDisconnection,
			MaxLogBytes: c.Recovery.MaxLogBytes, MaxLogPackets: c.Recovery.MaxLogPackets, OnDrop: m.recoveryLogDropped}
	}
	copts := &cluster.Options{Recovery: recovery, Observer: m.cluster}
	if cc.RoutePolling {
		n.engine = &engineio.ClusterOptions{Transport: redis.NewEngineTransport(client, &redis.EngineOptions{Logger: log}), Observer: m.cluster}
	}
	log = log.With("cluster", cc.Adapter)
	switch cc.Adapter {
	case ClusterStreams:
		ttl := c.Recovery.MaxDisconnection
		st := redis.NewStreams(client, &redis.StreamsOptions{StreamName: cc.KeyPrefix, ChannelPrefix: cc.KeyPrefix, UseShardedPubSub: cc.ShardedPubSub,
			SessionTTL: ttl, Logger: log})
		n.factory = cluster.NewFactory(st.Dialer(), copts)
		n.stop = func() { _ = st.Close(); client.Close() }
	case ClusterSharded:
		sh, err := redis.NewSharded(client, &redis.ShardedOptions{ChannelPrefix: cc.KeyPrefix, Logger: log})
		if err != nil {
			client.Close()
			return nil, err
		}
		n.factory = cluster.NewFactory(sh.Dialer(), copts)
	case ClusterPubSub:
		stats := &redis.ClassicStats{}
		m.cluster.classic = stats
		n.factory = redis.NewClassicFactory(client, &redis.ClassicOptions{Key: cc.KeyPrefix, Recovery: recovery, Stats: stats,
			OnRequest: m.cluster.classicRequest})
	default:
		client.Close()
		return nil, fmt.Errorf("cluster adapter %q is not available", cc.Adapter)
	}
	return n, nil
}

// tolerate returns nil for err when it only says that some nodes of the
// cluster did not answer in time (socketio.ErrPartialResult): the caller
// goes on with what the others answered, and the gap is logged.
func (s *Server) tolerate(err error, what string) error {
	if errors.Is(err, socketio.ErrPartialResult) {
		s.log.Warn(what+": some nodes of the cluster did not answer in time", "err", err)
		return nil
	}
	return err
}

// ping checks that Redis answers, for /readyz.
func (n *clusterNode) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return n.client.Do(ctx, n.client.B().Ping().Build()).Error()
}

// clusterMetrics are the tether_cluster_* metrics: a cluster.Observer.
type clusterMetrics struct {
	// classic is the pubsub adapter's counts, read at scrape time (it
	// reports no message types).
	classic   *redis.ClassicStats
	published *prometheus.CounterVec
	received  *prometheus.CounterVec
	errors    prometheus.Counter
	requests  *prometheus.HistogramVec
	missing   prometheus.Counter
	// Requests of sessions that another node owns (route_polling).
	forwarded *prometheus.CounterVec
	forward   *prometheus.HistogramVec
	served    *prometheus.CounterVec
}

func newClusterMetrics() *clusterMetrics {
	return &clusterMetrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_cluster_messages_published_total",
			Help: "Messages published to the other nodes of the cluster, by type.",
		}, []string{"type"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_cluster_messages_received_total",
			Help: "Messages received from the other nodes of the cluster, by type.",
		}, []string{"type"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tether_cluster_publish_errors_total",
			Help: "Messages that could not be published (Redis unreachable or slow): their broadcasts reached this node's clients only.",
		}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tether_cluster_request_duration_seconds",
			Help:    "Time the other nodes took to answer a request (fetchSockets, serverSideEmit with acks), by type.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 8), // 0.5 ms .. 8 s
		}, []string{"type"}),
		missing: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tether_cluster_request_missing_answers_total",
			Help: "Answers to requests that did not come in time (a node gone or slow).",
		}),
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_cluster_forwarded_requests_total",
			Help: "Requests served here for sessions that another node owns, by kind (poll, post, upgrade) and outcome (ok, takeover, relay, unknown_sid, error).",
		}, []string{"kind", "outcome"}),
		forward: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tether_cluster_forward_seconds",
			Help:    "Time the owner of the session added to a request served here for it: a poll's lock, a POST's delivery, an upgrade's exchange.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 3, 10), // 0.1 ms .. 2 s
		}, []string{"kind"}),
		served: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_cluster_served_requests_total",
			Help: "Requests that other nodes served for sessions of this node, by kind (poll, post, upgrade).",
		}, []string{"kind"}),
	}
}

// Forwarded implements engineio.ClusterObserver.
func (cm *clusterMetrics) Forwarded(kind, outcome string, took time.Duration) {
	cm.forwarded.WithLabelValues(kind, outcome).Inc()
	if outcome != "unknown_sid" && outcome != "error" {
		cm.forward.WithLabelValues(kind).Observe(took.Seconds())
	}
}

// Served implements engineio.ClusterObserver.
func (cm *clusterMetrics) Served(kind string) {
	cm.served.WithLabelValues(kind).Inc()
}

func (cm *clusterMetrics) collectors() []prometheus.Collector {
	routing := []prometheus.Collector{cm.forwarded, cm.forward, cm.served}
	if cm.classic != nil {
		return append(routing, classicCollector{cm.classic}, cm.requests, cm.missing)
	}
	return append(routing, cm.published, cm.received, cm.errors, cm.requests, cm.missing)
}

// classicRequest reports a request of the pubsub adapter.
func (cm *clusterMetrics) classicRequest(op string, took time.Duration, missing int) {
	t := op
	switch op {
	case "fetchSockets", "sockets", "allRooms":
		t = "fetch_sockets"
	case "serverSideEmit":
		t = "server_side_emit"
	}
	cm.requests.WithLabelValues(t).Observe(took.Seconds())
	cm.missing.Add(float64(missing))
}

// classicCollector exposes the pubsub adapter's counts under the
// tether_cluster_* names (with type "all": it does not count by type).
type classicCollector struct{ st *redis.ClassicStats }

var (
	descPublished = prometheus.NewDesc("tether_cluster_messages_published_total", "Messages published to the other nodes of the cluster, by type.", []string{"type"}, nil)
	descReceived  = prometheus.NewDesc("tether_cluster_messages_received_total", "Messages received from the other nodes of the cluster, by type.", []string{"type"}, nil)
	descErrors    = prometheus.NewDesc("tether_cluster_publish_errors_total", "Messages that could not be published (Redis unreachable or slow): their broadcasts reached this node's clients only.", nil, nil)
	descReconn    = prometheus.NewDesc("tether_cluster_reconnects_total", "Times the node subscribed again after losing Redis.", nil, nil)
)

func (c classicCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descPublished
	ch <- descReceived
	ch <- descErrors
	ch <- descReconn
}

func (c classicCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.st
	ch <- prometheus.MustNewConstMetric(descPublished, prometheus.CounterValue, float64(st.Published.Load()), "all")
	ch <- prometheus.MustNewConstMetric(descReceived, prometheus.CounterValue, float64(st.Received.Load()), "all")
	ch <- prometheus.MustNewConstMetric(descErrors, prometheus.CounterValue, float64(st.PublishErrors.Load()+st.Dropped.Load()))
	ch <- prometheus.MustNewConstMetric(descReconn, prometheus.CounterValue, float64(st.Reconnects.Load()))
}

// typeName names a message type for a label.
func typeName(t cluster.MessageType) string {
	switch t {
	case cluster.InitialHeartbeat, cluster.Heartbeat:
		return "heartbeat"
	case cluster.Broadcast:
		return "broadcast"
	case cluster.SocketsJoin:
		return "sockets_join"
	case cluster.SocketsLeave:
		return "sockets_leave"
	case cluster.DisconnectSockets:
		return "disconnect_sockets"
	case cluster.FetchSockets, cluster.FetchSocketsResponse:
		return "fetch_sockets"
	case cluster.ServerSideEmit, cluster.ServerSideEmitResponse:
		return "server_side_emit"
	case cluster.BroadcastClientCount, cluster.BroadcastAck:
		return "broadcast_ack"
	case cluster.AdapterClose:
		return "close"
	}
	return "other"
}

// Published implements cluster.Observer.
func (cm *clusterMetrics) Published(_ string, t cluster.MessageType, err error) {
	if err != nil {
		cm.errors.Inc()
		return
	}
	cm.published.WithLabelValues(typeName(t)).Inc()
}

// Received implements cluster.Observer.
func (cm *clusterMetrics) Received(_ string, t cluster.MessageType) {
	cm.received.WithLabelValues(typeName(t)).Inc()
}

// Requested implements cluster.Observer.
func (cm *clusterMetrics) Requested(_ string, t cluster.MessageType, d time.Duration, missing int) {
	cm.requests.WithLabelValues(typeName(t)).Observe(d.Seconds())
	cm.missing.Add(float64(missing))
}

// clusterNodes returns the nodes of the cluster, as the main namespace's
// adapter counts them (0 when it cannot tell; those it could count when
// some Redis nodes did not answer).
func (s *Server) clusterNodes() map[string]int {
	if s.cluster == nil {
		return map[string]int{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	n, err := s.io.Sockets().Adapter().ServerCount(ctx)
	if err != nil && !errors.Is(err, socketio.ErrPartialResult) {
		n = 0
	}
	return map[string]int{strings.ToLower(s.cluster.adapter): n}
}
