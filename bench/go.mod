module github.com/tether-rt/tether/bench

go 1.26.0

require (
	github.com/coder/websocket v1.8.15
	github.com/gorilla/websocket v1.5.3
	github.com/klauspost/compress v1.20.4
	github.com/lxzan/gws v1.8.9
	github.com/tether-rt/tether v0.0.0
)

require (
	github.com/dolthub/maphash v0.1.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/tether-rt/tether => ../
