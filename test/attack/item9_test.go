package attack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/tether-rt/tether/server"
)

// TestAttack9APIEmitRooms posts /api/emit with a huge list of rooms (short
// names, so the body stays under the API's 1 MiB limit): de-duplicating
// them took quadratic time (13.5 s for 100,000 rooms). The request must be
// refused at once with 413 and an error that names the limit, and a
// request at the limit must be served.
func TestAttack9APIEmitRooms(t *testing.T) {
	const key = "attack-9-api-key-0123456789"
	n := scale(20000, 100000)
	_, base, _ := tetherServe(t, func(c *server.Config) { c.API.Keys = []string{key} })
	max := server.DefaultConfig().API.MaxRooms

	rooms := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = strconv.FormatInt(int64(i), 36)
		}
		return out
	}
	emit := func(rooms, except []string) (int, string, time.Duration) {
		t.Helper()
		body, err := json.Marshal(map[string]any{"rooms": rooms, "except": except, "event": "x"})
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest("POST", base+"/api/emit", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST /api/emit: %v", err)
		}
		defer resp.Body.Close()
		var e struct {
			Error string `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Error, time.Since(start)
	}

	// The room names are 1 to 4 characters: 100,000 of them fit in the
	// body limit.
	status, msg, took := emit(rooms(n), nil)
	want := fmt.Sprintf(`"rooms" lists %d entries, more than the %d a request may name (api.max_rooms)`, n, max)
	report(t, "9", fmt.Sprintf("POST /api/emit with %d rooms", n),
		"413, error names api.max_rooms",
		fmt.Sprintf("%d in %v: %s", status, took.Round(time.Millisecond), msg),
		status == http.StatusRequestEntityTooLarge && msg == want)

	status, msg, took = emit(rooms(max), rooms(max))
	report(t, "9", fmt.Sprintf("POST /api/emit with %d rooms and %d exceptions (api.max_rooms)", max, max),
		"202 (served)",
		fmt.Sprintf("%d in %v %s", status, took.Round(time.Millisecond), msg),
		status == http.StatusAccepted)
}
