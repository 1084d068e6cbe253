package server

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The reasons a token is refused, as clients get them in the data of a
// connect_error or in the answer to refresh.
const (
	ReasonTokenRequired = "token required"
	ReasonTokenExpired  = "token expired"
	ReasonTokenNotYet   = "token not valid yet"
	ReasonInvalidToken  = "invalid token"
	ReasonNoExpiry      = "token has no expiry"
	ReasonInvalidIssuer = "invalid issuer"
	ReasonInvalidAud    = "invalid audience"
	ReasonNoVerifier    = "tokens are not accepted"
	ReasonSubjectChange = "token subject changed"
)

// authError is a refused token with the reason for the client.
type authError struct {
	reason string
	err    error
}

func (e *authError) Error() string {
	if e.err != nil {
		return e.reason + ": " + e.err.Error()
	}
	return e.reason
}

func (e *authError) Unwrap() error { return e.err }

// identity is what a verified token says.
type identity struct {
	claims jwt.MapClaims
	sub    string
	exp    time.Time // zero when the token does not expire
	rooms  []string  // room patterns granted
}

// jwksMinRefresh is the least time between two fetches of a JWKS for an
// unknown key id (tests lower it).
var jwksMinRefresh = 10 * time.Second

// verifier checks tokens.
type verifier struct {
	parser     *jwt.Parser
	hmac       []byte
	keys       []jwt.VerificationKey // static public keys
	jwks       *jwks
	roomsClaim string
	requireExp bool // refuse tokens without an exp claim
}

// newVerifier returns the verifier of c, or nil when no key is configured.
// With requireExp, tokens without an exp claim are refused.
func newVerifier(c *JWTConfig, requireExp bool, log *slog.Logger) (*verifier, error) {
	if !c.configured() {
		return nil, nil
	}
	v := &verifier{roomsClaim: c.RoomsClaim, requireExp: requireExp}
	var methods []string
	if c.HS256Secret != "" {
		v.hmac = []byte(c.HS256Secret)
		methods = append(methods, jwt.SigningMethodHS256.Alg())
	}
	for _, f := range c.PublicKeys {
		keys, err := loadPublicKeys(f)
		if err != nil {
			return nil, err
		}
		v.keys = append(v.keys, keys...)
	}
	if len(v.keys) > 0 || c.JWKSURL != "" {
		methods = append(methods, jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg())
	}
	if c.JWKSURL != "" {
		v.jwks = &jwks{
			url:     c.JWKSURL,
			ttl:     c.JWKSRefresh,
			client:  &http.Client{Timeout: 5 * time.Second},
			log:     log,
			fetchMu: make(chan struct{}, 1),
		}
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(methods), jwt.WithLeeway(c.Leeway)}
	if c.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(c.Issuer))
	}
	if c.Audience != "" {
		opts = append(opts, jwt.WithAudience(c.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// verify checks a token and returns its identity, or an *authError.
func (v *verifier) verify(ctx context.Context, token string) (*identity, error) {
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		return v.key(ctx, t)
	})
	if err != nil {
		reason := ReasonInvalidToken
		switch {
		case errors.Is(err, jwt.ErrTokenExpired):
			reason = ReasonTokenExpired
		case errors.Is(err, jwt.ErrTokenNotValidYet):
			reason = ReasonTokenNotYet
		case errors.Is(err, jwt.ErrTokenInvalidIssuer):
			reason = ReasonInvalidIssuer
		case errors.Is(err, jwt.ErrTokenInvalidAudience):
			reason = ReasonInvalidAud
		}
		return nil, &authError{reason, err}
	}
	id := v.identity(claims)
	if v.requireExp && id.exp.IsZero() {
		return nil, &authError{ReasonNoExpiry, errNoExpiry}
	}
	return id, nil
}

var (
	errNoExpiry = errors.New("the token has no exp claim (auth.jwt.require_exp)")
	errCritical = errors.New("the token's header has a crit parameter: no extension is supported")
)

// identity returns what verified claims say.
func (v *verifier) identity(claims jwt.MapClaims) *identity {
	id := &identity{claims: claims}
	id.sub, _ = claims["sub"].(string)
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		id.exp = exp.Time
	}
	switch r := claims[v.roomsClaim].(type) {
	case string:
		for _, p := range strings.Fields(r) {
			if checkPattern(p) == nil {
				id.rooms = append(id.rooms, p)
			}
		}
	case []any:
		for _, e := range r {
			if p, ok := e.(string); ok && checkPattern(p) == nil {
				id.rooms = append(id.rooms, p)
			}
		}
	}
	return id
}

// key finds the key that verifies t. It refuses a token whose header has
// a crit parameter first: RFC 7515 (4.1.11) says a recipient that does not
// understand every extension listed there must reject the token, and we
// understand none (an empty or malformed list is invalid too).
func (v *verifier) key(ctx context.Context, t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, errCritical
	}
	alg := t.Method.Alg()
	if alg == jwt.SigningMethodHS256.Alg() {
		if v.hmac == nil {
			return nil, errors.New("no HS256 secret configured")
		}
		return v.hmac, nil
	}
	var set jwt.VerificationKeySet
	for _, k := range v.keys {
		if keyFits(k, alg) {
			set.Keys = append(set.Keys, k)
		}
	}
	if v.jwks != nil {
		kid, _ := t.Header["kid"].(string)
		if k := v.jwks.get(ctx, kid, alg); k != nil {
			set.Keys = append(set.Keys, k)
		}
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("no %s key", alg)
	}
	return set, nil
}

// keyFits reports whether k verifies alg.
func keyFits(k jwt.VerificationKey, alg string) bool {
	switch k := k.(type) {
	case *rsa.PublicKey:
		return alg == jwt.SigningMethodRS256.Alg()
	case *ecdsa.PublicKey:
		return alg == jwt.SigningMethodES256.Alg() && k.Curve == elliptic.P256()
	}
	return false
}

// loadPublicKeys reads the public keys (or certificates) of a PEM file.
func loadPublicKeys(name string) ([]jwt.VerificationKey, error) {
	data, err := readFile(name)
	if err != nil {
		return nil, err
	}
	var keys []jwt.VerificationKey
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		var pub any
		switch b.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(b.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(b.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(b.Bytes); err == nil {
				pub = cert.PublicKey
			}
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("failed to parse %s: %w", name, err)
		}
		switch k := pub.(type) {
		case *rsa.PublicKey:
			keys = append(keys, k)
		case *ecdsa.PublicKey:
			if k.Curve != elliptic.P256() {
				return nil, fmt.Errorf("%s: only P-256 EC keys (ES256) are supported", name)
			}
			keys = append(keys, k)
		default:
			return nil, fmt.Errorf("%s: unsupported key type %T (want RSA or EC P-256)", name, pub)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no PEM public key or certificate", name)
	}
	return keys, nil
}

// loadCertificate loads a TLS certificate and key.
func loadCertificate(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return cert, fmt.Errorf("failed to load the certificate: %w", err)
	}
	return cert, nil
}

// jwks is a cached JSON Web Key Set.
type jwks struct {
	url    string
	ttl    time.Duration
	client *http.Client
	log    *slog.Logger

	fetchMu chan struct{} // one fetch at a time, waiting cancellable

	mu      sync.Mutex
	keys    map[string]jwt.VerificationKey // by kid
	algs    map[string]string              // kid -> alg, when the JWK says
	fetched time.Time                      // end of the last fetch attempt
	expires time.Time                      // keys trusted until then
}

// get returns the key kid for alg, fetching the set when it is stale or
// does not know kid, unless a fetch ended less than jwksMinRefresh ago.
func (j *jwks) get(ctx context.Context, kid, alg string) jwt.VerificationKey {
	k, fresh, recent := j.lookup(kid, alg)
	if (k != nil && fresh) || recent {
		return k
	}
	if err := j.fetch(ctx); err != nil {
		j.log.Warn("failed to fetch the JWKS", "url", j.url, "err", err)
		return k // a stale key is better than none while the URL fails
	}
	k, _, _ = j.lookup(kid, alg)
	return k
}

func (j *jwks) lookup(kid, alg string) (k jwt.VerificationKey, fresh, recent bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := time.Now()
	fresh = now.Before(j.expires)
	recent = now.Sub(j.fetched) < jwksMinRefresh
	if kid == "" {
		// No key id: only a set with a single fitting key will do.
		for id, key := range j.keys {
			if keyFits(key, alg) && (j.algs[id] == "" || j.algs[id] == alg) {
				if k != nil {
					return nil, fresh, recent
				}
				k = key
			}
		}
		return k, fresh, recent
	}
	key := j.keys[kid]
	if key == nil || !keyFits(key, alg) || (j.algs[kid] != "" && j.algs[kid] != alg) {
		return nil, fresh, recent
	}
	return key, fresh, recent
}

// fetch downloads the set, unless another fetch ended while it waited
// for its turn.
func (j *jwks) fetch(ctx context.Context) error {
	start := time.Now()
	select {
	case j.fetchMu <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-j.fetchMu }()
	j.mu.Lock()
	done := j.fetched.After(start)
	j.mu.Unlock()
	if done {
		return nil // another fetch ended while we waited
	}
	defer func() {
		j.mu.Lock()
		j.fetched = time.Now()
		j.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, j.client.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return fmt.Errorf("failed to build the JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := j.client.Do(req)
	if err != nil {
		return fmt.Errorf("failed to fetch the JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("failed to fetch the JWKS: %s", resp.Status)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return fmt.Errorf("failed to decode the JWKS: %w", err)
	}
	keys := map[string]jwt.VerificationKey{}
	algs := map[string]string{}
	for i, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		pub, err := k.publicKey()
		if err != nil {
			j.log.Warn("skipping a JWKS key", "url", j.url, "index", i, "kid", k.Kid, "err", err)
			continue
		}
		keys[k.Kid] = pub
		algs[k.Kid] = k.Alg
	}
	j.mu.Lock()
	j.keys, j.algs = keys, algs
	j.expires = time.Now().Add(j.ttl)
	j.mu.Unlock()
	return nil
}

// jwk is a JSON Web Key (RFC 7517) of type RSA or EC.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

func (k *jwk) publicKey() (crypto.PublicKey, error) {
	b64 := base64.RawURLEncoding
	switch k.Kty {
	case "RSA":
		n, err := b64.DecodeString(k.N)
		if err != nil || len(n) == 0 {
			return nil, errors.New("invalid n")
		}
		e, err := b64.DecodeString(k.E)
		if err != nil || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("invalid e")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits is too small", pub.N.BitLen())
		}
		return pub, nil
	case "EC":
		if k.Crv != "P-256" {
			return nil, fmt.Errorf("unsupported curve %q", k.Crv)
		}
		x, err1 := b64.DecodeString(k.X)
		y, err2 := b64.DecodeString(k.Y)
		if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
			return nil, errors.New("invalid x or y")
		}
		point := append(append([]byte{4}, x...), y...)
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	}
	return nil, fmt.Errorf("unsupported key type %q", k.Kty)
}
