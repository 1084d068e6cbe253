package attack

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/tether-rt/tether/server"
)

// TestAttack8JWT connects with tokens that must be refused although they
// are signed with the server's key: one whose header lists a critical
// extension (RFC 7515 says reject what you do not understand), one that
// never expires (no exp claim), on a server that requires authentication.
func TestAttack8JWT(t *testing.T) {
	const secret = "attack-8-hs256-secret-0123456789abcdef"
	_, base, _ := tetherServe(t, func(c *server.Config) {
		c.Auth.Required = true
		c.Auth.JWT.HS256Secret = secret
	})
	sign := func(header map[string]any, claims jwt.MapClaims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		for k, v := range header {
			tok.Header[k] = v
		}
		s, err := tok.SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	exp := time.Now().Add(time.Hour).Unix()
	valid := sign(nil, jwt.MapClaims{"sub": "mallory", "exp": exp})
	if _, answer := dialSocketIO(t, base, authPayload(valid)); !strings.HasPrefix(answer, "40{") {
		t.Fatalf("a valid token was refused: %q", answer)
	}

	for _, tc := range []struct {
		attack, token, reason, label string
	}{
		{`token with "crit": ["exp"] in its header`, sign(map[string]any{"crit": []string{"exp"}}, jwt.MapClaims{"sub": "mallory", "exp": exp}),
			server.ReasonInvalidToken, "invalid_token"},
		{"token without exp (valid forever)", sign(nil, jwt.MapClaims{"sub": "mallory"}),
			server.ReasonNoExpiry, "token_has_no_expiry"},
	} {
		_, answer := dialSocketIO(t, base, authPayload(tc.token))
		got := connectErrorReason(answer)
		counted := scrapeCounter(t, base, `tether_handshakes_rejected_total{reason="`+tc.label+`"}`)
		report(t, "8", tc.attack+" (HS256, auth.required)",
			fmt.Sprintf("connect_error %q, counted", tc.reason),
			fmt.Sprintf("answer %s; tether_handshakes_rejected_total{reason=%q} %.0f", answer, tc.label, counted),
			got == tc.reason && counted == 1)
	}
}

// authPayload returns the CONNECT auth payload {"token": tok}.
func authPayload(tok string) string {
	b, _ := json.Marshal(map[string]string{"token": tok})
	return string(b)
}

// connectErrorReason returns data.reason of a CONNECT_ERROR packet
// ("44{...}"), or "" for any other answer.
func connectErrorReason(answer string) string {
	body, ok := strings.CutPrefix(answer, "44")
	if !ok {
		return ""
	}
	var e struct {
		Data struct {
			Reason string `json:"reason"`
		} `json:"data"`
	}
	if json.Unmarshal([]byte(body), &e) != nil {
		return ""
	}
	return e.Data.Reason
}
