package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testSecret = "0123456789abcdef0123456789abcdef"

var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
	ecKey2   *ecdsa.PrivateKey
)

func testKeys(t testing.TB) {
	keysOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if ecKey2, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
}

// sign makes a token; claims get sub "alice" and exp in an hour unless set.
func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	if _, ok := claims["sub"]; !ok {
		claims["sub"] = "alice"
	}
	if _, ok := claims["exp"]; !ok {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
	}
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pemFile(t *testing.T, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
}

// connectRefusal connects with auth and returns the connect_error's reason.
func connectRefusal(t *testing.T, base string, o dialOpts) string {
	t.Helper()
	_, err := dialClient(t, base, o)
	var ce *connectError
	if !errors.As(err, &ce) {
		t.Fatalf("connect with %v: got %v, want a connect_error", o.auth, err)
	}
	if ce.Message != ce.reason() {
		t.Fatalf("connect_error message %q, data %s", ce.Message, ce.Data)
	}
	return ce.reason()
}

func tokenAuth(tok string) map[string]any { return map[string]any{"token": tok} }

func TestJWTHS256(t *testing.T) {
	cfg := testConfig()
	cfg.Auth.Required = true
	cfg.Auth.JWT.HS256Secret = testSecret
	cfg.API.Keys = []string{testAPIKey}
	_, ts := startServer(t, cfg)

	c := mustDial(t, ts.URL, dialOpts{auth: tokenAuth(sign(t, jwt.SigningMethodHS256, []byte(testSecret), "", jwt.MapClaims{"role": "admin"}))})
	// The claims are the socket's data.
	_, body := apiCall(t, ts, testAPIKey, "GET", "/api/sockets", nil)
	socks := body["sockets"].([]any)
	s0 := socks[0].(map[string]any)
	if s0["id"] != c.id || s0["user"] != "alice" {
		t.Fatalf("sockets = %v", socks)
	}
	if claims := s0["data"].(map[string]any)["claims"].(map[string]any); claims["role"] != "admin" {
		t.Fatalf("claims = %v", claims)
	}

	for _, tc := range []struct {
		name   string
		auth   any
		reason string
	}{
		{"no auth", nil, ReasonTokenRequired},
		{"empty token", tokenAuth(""), ReasonTokenRequired},
		{"garbage", tokenAuth("not.a.token"), ReasonInvalidToken},
		{"wrong secret", tokenAuth(sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), "", jwt.MapClaims{})), ReasonInvalidToken},
		{"expired", tokenAuth(sign(t, jwt.SigningMethodHS256, []byte(testSecret), "", jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()})), ReasonTokenExpired},
		{"not yet valid", tokenAuth(sign(t, jwt.SigningMethodHS256, []byte(testSecret), "", jwt.MapClaims{"nbf": time.Now().Add(time.Hour).Unix()})), ReasonTokenNotYet},
		{"alg none", tokenAuth(sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", jwt.MapClaims{})), ReasonInvalidToken},
		{"HS384", tokenAuth(sign(t, jwt.SigningMethodHS384, []byte(testSecret), "", jwt.MapClaims{})), ReasonInvalidToken},
	} {
		if got := connectRefusal(t, ts.URL, dialOpts{auth: tc.auth}); got != tc.reason {
			t.Errorf("%s: reason %q, want %q", tc.name, got, tc.reason)
		}
	}
	m := scrape(t, ts)
	if !strings.Contains(m, `tether_handshakes_rejected_total{reason="token_expired"} 1`) ||
		!strings.Contains(m, `tether_handshakes_rejected_total{reason="token_required"} 2`) {
		t.Errorf("rejections not counted by reason:\n%s", grep(m, "rejected"))
	}
}

func TestJWTOptionalAuth(t *testing.T) {
	cfg := testConfig()
	cfg.Auth.JWT.HS256Secret = testSecret
	yes := true
	cfg.Namespaces = append(cfg.Namespaces, NamespaceConfig{Name: "/private", RequireAuth: &yes, Publish: PublishNone})
	_, ts := startServer(t, cfg)
	// Anonymous clients are welcome where auth is optional, not where it is required.
	mustDial(t, ts.URL, dialOpts{})
	if got := connectRefusal(t, ts.URL, dialOpts{ns: "/private"}); got != ReasonTokenRequired {
		t.Fatalf("reason %q", got)
	}
	// A bad token is refused even where auth is optional.
	if got := connectRefusal(t, ts.URL, dialOpts{auth: tokenAuth("x.y.z")}); got != ReasonInvalidToken {
		t.Fatalf("reason %q", got)
	}
	mustDial(t, ts.URL, dialOpts{ns: "/private", auth: tokenAuth(sign(t, jwt.SigningMethodHS256, []byte(testSecret), "", jwt.MapClaims{}))})
}

func TestJWTPublicKeys(t *testing.T) {
	testKeys(t)
	cfg := testConfig()
	cfg.Auth.Required = true
	cfg.Auth.JWT.PublicKeys = []string{pemFile(t, &rsaKey.PublicKey), pemFile(t, &ecKey.PublicKey)}
	cfg.Auth.JWT.Issuer = "https://issuer.example"
	cfg.Auth.JWT.Audience = "tether"
	_, ts := startServer(t, cfg)
	good := jwt.MapClaims{"iss": "https://issuer.example", "aud": "tether"}
	mustDial(t, ts.URL, dialOpts{auth: tokenAuth(sign(t, jwt.SigningMethodRS256, rsaKey, "", copyClaims(good)))})
	mustDial(t, ts.URL, dialOpts{auth: tokenAuth(sign(t, jwt.SigningMethodES256, ecKey, "", copyClaims(good)))})

	for _, tc := range []struct {
		name   string
		tok    string
		reason string
	}{
		{"unknown EC key", sign(t, jwt.SigningMethodES256, ecKey2, "", copyClaims(good)), ReasonInvalidToken},
		{"HS256 without a secret", sign(t, jwt.SigningMethodHS256, []byte(testSecret), "", copyClaims(good)), ReasonInvalidToken},
		{"wrong issuer", sign(t, jwt.SigningMethodRS256, rsaKey, "", jwt.MapClaims{"iss": "evil", "aud": "tether"}), ReasonInvalidIssuer},
		{"wrong audience", sign(t, jwt.SigningMethodRS256, rsaKey, "", jwt.MapClaims{"iss": "https://issuer.example", "aud": "other"}), ReasonInvalidAud},
		{"expired ES256", sign(t, jwt.SigningMethodES256, ecKey, "", jwt.MapClaims{"iss": "https://issuer.example", "aud": "tether", "exp": time.Now().Add(-time.Minute).Unix()}), ReasonTokenExpired},
	} {
		if got := connectRefusal(t, ts.URL, dialOpts{auth: tokenAuth(tc.tok)}); got != tc.reason {
			t.Errorf("%s: reason %q, want %q", tc.name, got, tc.reason)
		}
	}
}

func copyClaims(c jwt.MapClaims) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	return out
}

// jwksServer serves a mutable JWKS and counts the fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []map[string]string
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T) *jwksServer {
	j := &jwksServer{}
	j.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.fetches.Add(1)
		j.mu.Lock()
		defer j.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": j.keys})
	}))
	t.Cleanup(j.Close)
	return j
}

func (j *jwksServer) set(keys ...map[string]string) {
	j.mu.Lock()
	j.keys = keys
	j.mu.Unlock()
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid string, k *rsa.PublicKey) map[string]string {
	return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
}

func ecJWK(kid string, k *ecdsa.PublicKey) map[string]string {
	pt, err := k.Bytes() // 04 || X || Y
	if err != nil {
		panic(err)
	}
	return map[string]string{"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(pt[1:33]), "y": b64(pt[33:])}
}

func TestJWTJWKS(t *testing.T) {
	testKeys(t)
	old := jwksMinRefresh
	jwksMinRefresh = 0
	t.Cleanup(func() { jwksMinRefresh = old })

	js := newJWKSServer(t)
	js.set(rsaJWK("r1", &rsaKey.PublicKey), ecJWK("e1", &ecKey.PublicKey))
	cfg := testConfig()
	cfg.Auth.Required = true
	cfg.Auth.JWT.JWKSURL = js.URL
	_, ts := startServer(t, cfg)

	mustDial(t, ts.URL, dialOpts{auth: tokenAuth(sign(t, jwt.SigningMethodRS256, rsaKey, "r1", jwt.MapClaims{}))})
	mustDial(t, ts.URL, dialOpts{auth: tokenAuth(sign(t, jwt.SigningMethodES256, ecKey, "e1", jwt.MapClaims{}))})
	fetches := js.fetches.Load()
	if fetches < 1 || fetches > 2 {
		t.Fatalf("%d fetches for two tokens of known keys, want 1 (2 with the warm-up racing)", fetches)
	}
	// A token with the RSA key under the EC key's id is refused.
	if got := connectRefusal(t, ts.URL, dialOpts{auth: tokenAuth(sign(t, jwt.SigningMethodRS256, rsaKey, "e1", jwt.MapClaims{}))}); got != ReasonInvalidToken {
		t.Fatalf("reason %q", got)
	}

	// Key rotation: a new key id makes the server fetch the set again.
	js.set(ecJWK("e2", &ecKey2.PublicKey))
	mustDial(t, ts.URL, dialOpts{auth: tokenAuth(sign(t, jwt.SigningMethodES256, ecKey2, "e2", jwt.MapClaims{}))})
	if js.fetches.Load() <= fetches {
		t.Fatal("unknown key id did not refetch the JWKS")
	}
	// The old keys are gone now.
	if got := connectRefusal(t, ts.URL, dialOpts{auth: tokenAuth(sign(t, jwt.SigningMethodES256, ecKey, "e1", jwt.MapClaims{}))}); got != ReasonInvalidToken {
		t.Fatalf("reason %q", got)
	}
}

func TestJWTJWKSUnknownKidRateLimited(t *testing.T) {
	testKeys(t)
	js := newJWKSServer(t)
	js.set(ecJWK("e1", &ecKey.PublicKey))
	cfg := testConfig()
	cfg.Auth.Required = true
	cfg.Auth.JWT.JWKSURL = js.URL
	_, ts := startServer(t, cfg)
	mustDial(t, ts.URL, dialOpts{auth: tokenAuth(sign(t, jwt.SigningMethodES256, ecKey, "e1", jwt.MapClaims{}))})
	n := js.fetches.Load()
	for i := 0; i < 5; i++ {
		connectRefusal(t, ts.URL, dialOpts{auth: tokenAuth(sign(t, jwt.SigningMethodES256, ecKey2, "bogus", jwt.MapClaims{}))})
	}
	if got := js.fetches.Load(); got > n+1 {
		t.Fatalf("%d fetches for 5 unknown key ids right after a fetch, want at most 1", got-n)
	}
}

func TestTokenRefreshAndExpiry(t *testing.T) {
	cfg := testConfig()
	cfg.Auth.JWT.HS256Secret = testSecret
	cfg.Auth.JWT.Leeway = 0
	cfg.Namespaces[0].Rooms.Public = []string{"public"}
	cfg.Namespaces[0].JoinLeaveEvents = true
	_, ts := startServer(t, cfg)
	key := []byte(testSecret)
	tok := func(exp time.Duration, rooms ...any) string {
		return sign(t, jwt.SigningMethodHS256, key, "", jwt.MapClaims{"exp": time.Now().Add(exp).Unix(), "rooms": rooms})
	}

	c := mustDial(t, ts.URL, dialOpts{auth: tokenAuth(tok(time.Hour, "chat:*", "vip"))})
	watcher := mustDial(t, ts.URL, dialOpts{auth: tokenAuth(tok(time.Hour, "chat:*"))})
	wantOK(t, "watcher", watcher.call("subscribe", map[string]any{"room": "chat:a"}))
	wantOK(t, "claim room", c.call("subscribe", map[string]any{"room": "chat:a"}))
	wantOK(t, "claim room", c.call("subscribe", map[string]any{"room": "vip"}))
	wantOK(t, "public room", c.call("subscribe", map[string]any{"room": "public"}))
	wantRefused(t, "no claim", c.call("subscribe", map[string]any{"room": "admin"}), ReasonNotAllowed)
	watcher.next(EventPresenceJoin)

	// A refresh that narrows the rooms claim drops the rooms it no longer grants.
	res := c.call("refresh", map[string]any{"token": tok(time.Hour, "vip")})
	wantOK(t, "refresh", res)
	if left, _ := res["left"].([]any); len(left) != 1 || left[0] != "chat:a" {
		t.Fatalf("refresh left %v, want [chat:a]", res["left"])
	}
	if l := arg(t, watcher.next(EventPresenceLeave).args[0]); l["room"] != "chat:a" || l["id"] != c.id {
		t.Fatalf("presence:leave = %v", l)
	}
	wantRefused(t, "after refresh", c.call("subscribe", map[string]any{"room": "chat:b"}), ReasonNotAllowed)

	// Bad refreshes keep the current token.
	wantRefused(t, "expired", c.call("refresh", map[string]any{"token": tok(-time.Minute, "vip")}), ReasonTokenExpired)
	wantRefused(t, "garbage", c.call("refresh", map[string]any{"token": "x"}), ReasonInvalidToken)
	wantRefused(t, "no token", c.call("refresh", map[string]any{}), ReasonInvalidArgs)
	other := sign(t, jwt.SigningMethodHS256, key, "", jwt.MapClaims{"sub": "mallory"})
	wantRefused(t, "other subject", c.call("refresh", map[string]any{"token": other}), ReasonSubjectChange)
	wantOK(t, "still subscribed", c.call("publish", map[string]any{"room": "vip", "event": "x"}))

	// A token about to expire: the socket is told and disconnected, unless
	// it refreshes in time.
	// exp has a one-second resolution: this one is 1 to 2 s away.
	expAt := time.Now().Add(2 * time.Second).Unix()
	shortTok := sign(t, jwt.SigningMethodHS256, key, "", jwt.MapClaims{"exp": expAt})
	short := mustDial(t, ts.URL, dialOpts{auth: tokenAuth(shortTok)})
	refreshed := mustDial(t, ts.URL, dialOpts{auth: tokenAuth(shortTok)})
	res = refreshed.call("refresh", map[string]any{"token": tok(time.Hour)})
	wantOK(t, "refresh in time", res)
	if exp, _ := res["expires"].(float64); int64(exp) < time.Now().Add(59*time.Minute).Unix() {
		t.Fatalf("refresh expires = %v", res["expires"])
	}
	e := short.next(EventError)
	if r := arg(t, e.args[0]); r["reason"] != ReasonTokenExpired {
		t.Fatalf("error event = %v", r)
	}
	if got := short.waitDone(); got != "io server disconnect" {
		t.Fatalf("expired socket ended with %q", got)
	}
	// The refreshed one outlives its first token.
	time.Sleep(time.Until(time.Unix(expAt, 0).Add(500 * time.Millisecond)))
	wantOK(t, "refreshed socket", refreshed.call("subscribe", map[string]any{"room": "public"}))
}

// signHS256 makes an HS256 token with testSecret from exactly claims (no
// defaults: without "exp" it has none) and the extra header parameters.
func signHS256(t testing.TB, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestJWTCriticalHeader checks that a token whose header has a crit
// parameter is refused (RFC 7515 4.1.11: we understand no extension), in
// any form, whatever require_exp says.
func TestJWTCriticalHeader(t *testing.T) {
	for _, requireExp := range []bool{false, true} {
		v, err := newVerifier(&JWTConfig{HS256Secret: testSecret, RoomsClaim: "rooms"}, requireExp, quietLogger())
		if err != nil {
			t.Fatal(err)
		}
		exp := jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()}
		if _, err := v.verify(t.Context(), signHS256(t, nil, exp)); err != nil {
			t.Fatalf("require_exp %v: a plain token: %v", requireExp, err)
		}
		for _, crit := range []any{[]string{"exp"}, []string{"b64"}, []string{}, "exp", nil, 1} {
			tok := signHS256(t, map[string]any{"crit": crit}, exp)
			_, err := v.verify(t.Context(), tok)
			var ae *authError
			if !errors.As(err, &ae) || ae.reason != ReasonInvalidToken || !errors.Is(err, errCritical) {
				t.Errorf("require_exp %v: crit %#v: %v, want %q (%v)", requireExp, crit, err, ReasonInvalidToken, errCritical)
			}
		}
	}
}

// TestJWTRequireExp connects with a token without exp under each
// require_exp setting, and with a crit token, and checks the refusals, their
// metric and the refresh event.
func TestJWTRequireExp(t *testing.T) {
	yes, no := true, false
	noExp := signHS256(t, nil, jwt.MapClaims{"sub": "alice"})
	withExp := signHS256(t, nil, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	crit := signHS256(t, map[string]any{"crit": []string{"exp"}}, jwt.MapClaims{"sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	for _, tc := range []struct {
		name         string
		authRequired bool
		private      bool  // a namespace /private with require_auth: true
		requireExp   *bool // auth.jwt.require_exp
		refused      bool  // is a token without exp refused?
	}{
		{"auth required, require_exp unset", true, false, nil, true},
		{"auth required, require_exp false", true, false, &no, false},
		{"auth optional, require_exp unset", false, false, nil, false},
		{"auth optional, require_exp true", false, false, &yes, true},
		// Required in one namespace: tokens must expire in all of them.
		{"auth required in /private, require_exp unset", false, true, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Auth.Required = tc.authRequired
			cfg.Auth.JWT.HS256Secret = testSecret
			cfg.Auth.JWT.RequireExp = tc.requireExp
			if tc.private {
				cfg.Namespaces = append(cfg.Namespaces, NamespaceConfig{Name: "/private", RequireAuth: &yes, Publish: PublishNone})
			}
			if got := cfg.ExpRequired(); got != tc.refused {
				t.Fatalf("ExpRequired() = %v, want %v", got, tc.refused)
			}
			_, ts := startServer(t, cfg)

			if got := connectRefusal(t, ts.URL, dialOpts{auth: tokenAuth(crit)}); got != ReasonInvalidToken {
				t.Errorf("crit token: reason %q, want %q", got, ReasonInvalidToken)
			}
			c := mustDial(t, ts.URL, dialOpts{auth: tokenAuth(withExp)})
			m := scrape(t, ts)
			if tc.refused {
				if got := connectRefusal(t, ts.URL, dialOpts{auth: tokenAuth(noExp)}); got != ReasonNoExpiry {
					t.Errorf("token without exp: reason %q, want %q", got, ReasonNoExpiry)
				}
				wantRefused(t, "refresh without exp", c.call("refresh", map[string]any{"token": noExp}), ReasonNoExpiry)
				m = scrape(t, ts)
				if !strings.Contains(m, `tether_handshakes_rejected_total{reason="token_has_no_expiry"} 1`) {
					t.Errorf("refusal not counted:\n%s", grep(m, "rejected"))
				}
			} else {
				mustDial(t, ts.URL, dialOpts{auth: tokenAuth(noExp)})
				wantOK(t, "refresh without exp", c.call("refresh", map[string]any{"token": noExp}))
				if strings.Contains(m, "token_has_no_expiry") {
					t.Errorf("refusal counted:\n%s", grep(m, "rejected"))
				}
			}
			if !strings.Contains(m, `tether_handshakes_rejected_total{reason="invalid_token"} 1`) {
				t.Errorf("crit refusal not counted:\n%s", grep(m, "rejected"))
			}
		})
	}
}
