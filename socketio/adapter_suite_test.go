package socketio_test

import (
	"testing"

	"github.com/tether-rt/tether/adapter/adaptertest"
	"github.com/tether-rt/tether/socketio"
)

// TestSuiteInMemory runs the adapters' behaviour suite against the
// in-memory adapter of one server.
func TestSuiteInMemory(t *testing.T) {
	adaptertest.Run(t, func(t *testing.T, n int) []*socketio.Server {
		srv := socketio.NewServer(nil)
		t.Cleanup(func() { _ = srv.Close() })
		return []*socketio.Server{srv}
	}, 1)
}
