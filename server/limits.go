package server

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"
)

// bucket is a token bucket: rate tokens per second, up to burst. Each
// socket of tether serve holds one (the event limit): 16 bytes where a
// time.Time took 24 more (TestSockStateSize).
type bucket struct {
	tokens float64
	last   int64 // when it was last taken from (clock), 0 before
}

// clockStart is the origin of clock.
var clockStart = time.Now()

// clock returns t as nanoseconds since clockStart, at least 1 (0 is a
// bucket never taken from); a t from time.Now is read on the monotonic
// clock.
func clock(t time.Time) int64 { return max(1, int64(t.Sub(clockStart))) }

// take takes a token if there is one.
func (b *bucket) take(now time.Time, rate float64, burst int) bool {
	n := clock(now)
	if b.last == 0 {
		b.tokens = float64(burst)
	} else {
		b.tokens = min(float64(burst), b.tokens+time.Duration(n-b.last).Seconds()*rate)
	}
	b.last = n
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// full reports whether the bucket has refilled (and can be forgotten).
func (b *bucket) full(now time.Time, rate float64, burst int) bool {
	return b.tokens+time.Duration(clock(now)-b.last).Seconds()*rate >= float64(burst)
}

// ipLimiter keeps, per client IP, a handshake bucket and the count of
// connections: live ones (open Engine.IO sessions), and handshakes admitted
// whose session has not opened yet, which expire after pendingTTL.
type ipLimiter struct {
	rate       float64
	burst      int
	maxConns   int
	pendingTTL time.Duration

	mu  sync.Mutex
	ips map[string]*ipState
}

type ipState struct {
	ip      string // the key of the state in ipLimiter.ips
	bucket  bucket
	live    int
	pending []time.Time // expiry of each pending handshake
}

func newIPLimiter(rate float64, burst, maxConns int, pendingTTL time.Duration) *ipLimiter {
	return &ipLimiter{rate: rate, burst: burst, maxConns: maxConns, pendingTTL: pendingTTL, ips: map[string]*ipState{}}
}

// handshake admits a new connection from ip, or returns why not: "rate"
// (too many handshakes) or "connections" (too many connections).
func (l *ipLimiter) handshake(ip string, now time.Time) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.stateLocked(ip, now)
	if l.maxConns > 0 && st.live+len(st.pending) >= l.maxConns {
		return "connections"
	}
	if l.rate > 0 && !st.bucket.take(now, l.rate, l.burst) {
		return "rate"
	}
	st.pending = append(st.pending, now.Add(l.pendingTTL))
	return ""
}

// stateLocked returns ip's state, made if new, with expired pending
// handshakes dropped. The caller holds l.mu.
func (l *ipLimiter) stateLocked(ip string, now time.Time) *ipState {
	st := l.ips[ip]
	if st == nil {
		st = &ipState{ip: ip}
		l.ips[ip] = st
	}
	st.expire(now)
	return st
}

// connected turns a pending handshake of ip into a live connection. It
// returns ip as the limiter holds it, for as long as the connection is
// live: the connections of an IP keep one string between them.
func (l *ipLimiter) connected(ip string, now time.Time) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.stateLocked(ip, now)
	if len(st.pending) > 0 {
		st.pending = st.pending[1:]
	}
	st.live++
	return st.ip
}

// intern returns ip as the limiter holds it while connections from it are
// live (see connected), else ip.
func (l *ipLimiter) intern(ip string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st := l.ips[ip]; st != nil {
		return st.ip
	}
	return ip
}

// closed forgets a live connection of ip.
func (l *ipLimiter) closed(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if st := l.ips[ip]; st != nil && st.live > 0 {
		st.live--
	}
}

// sweep forgets the IPs with nothing left to remember.
func (l *ipLimiter) sweep(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for ip, st := range l.ips {
		st.expire(now)
		if st.live == 0 && len(st.pending) == 0 && (l.rate == 0 || st.bucket.full(now, l.rate, l.burst)) {
			delete(l.ips, ip)
		}
	}
}

func (st *ipState) expire(now time.Time) {
	i := 0
	for i < len(st.pending) && now.After(st.pending[i]) {
		i++
	}
	st.pending = st.pending[i:]
}

// parseCIDR parses an IP or a CIDR.
func parseCIDR(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("invalid CIDR %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid IP %q", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// ipResolver finds a request's client IP, trusting X-Forwarded-For from
// the configured proxies.
type ipResolver struct {
	trusted []netip.Prefix
}

func newIPResolver(proxies []string) (*ipResolver, error) {
	r := &ipResolver{}
	for _, p := range proxies {
		pfx, err := parseCIDR(p)
		if err != nil {
			return nil, err
		}
		r.trusted = append(r.trusted, pfx)
	}
	return r, nil
}

func (r *ipResolver) isTrusted(a netip.Addr) bool {
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP returns the client's IP given the connection's remote address
// and the request headers: the remote address, or, when that is a trusted
// proxy, the last address of X-Forwarded-For that is not one.
func (r *ipResolver) clientIP(remoteAddr string, h http.Header) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap()
	if len(r.trusted) == 0 || !r.isTrusted(a) {
		return a.String()
	}
	hops := strings.Split(strings.Join(h.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		hop = hop.Unmap()
		if !r.isTrusted(hop) {
			return hop.String()
		}
		a = hop
	}
	return a.String()
}

// originPolicy decides which browser origins may connect, with the
// semantics of websocket.AcceptOptions.OriginPatterns: a pattern without
// "://" matches the Origin's host (with port), one with "://" the whole
// Origin, case-insensitively; the request's own host is always allowed.
type originPolicy struct {
	any      bool
	patterns []string
}

func newOriginPolicy(origins []string) *originPolicy {
	p := &originPolicy{}
	for _, o := range origins {
		if o == "*" {
			p.any = true
		}
		p.patterns = append(p.patterns, strings.ToLower(o))
	}
	return p
}

// allowed reports whether a request from origin to host may proceed.
func (p *originPolicy) allowed(origin, host string) bool {
	if origin == "" || p.any {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, host) {
		return true
	}
	o := strings.ToLower(origin)
	h := strings.ToLower(u.Host)
	for _, pat := range p.patterns {
		target := h
		if strings.Contains(pat, "://") {
			target = o
		}
		if ok, _ := path.Match(pat, target); ok {
			return true
		}
	}
	return false
}
