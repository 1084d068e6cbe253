//go:build !(linux && (amd64 || arm64))

package websocket

func (c *Conn) startPolling(AsyncHandler) bool { return false }

func (c *Conn) arm(*pollState) bool { return false }

func (c *Conn) stopPolling(*pollState) {}

// InlineServed returns 0: the poller serves no message itself here.
func InlineServed() uint64 { return 0 }
