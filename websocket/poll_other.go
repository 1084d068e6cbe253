//go:build !(linux && (amd64 || arm64))

package websocket

func (c *Conn) startPolling(AsyncHandler) bool { return false }

func (c *Conn) arm(*pollState) bool { return false }

func (c *Conn) stopPolling(*pollState) {}
