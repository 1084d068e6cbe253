// Package demo holds the live demo apps of the standalone server: their
// server side, registered on a [socketio.Server] by [Register], and their web
// pages, served from [Assets].
//
// Three demos, each on its own namespace:
//
//   - /leaderboard: players join with a name and click to score; the server
//     keeps the scores in memory and broadcasts the ranking to every viewer,
//     coalesced to at most one update per Options.LeaderboardInterval. A bot
//     mode (toggled from the page or by Options.BotsOn) has server-side bots
//     score at Options.BotRate points per second, to drive load.
//   - /chat: rooms (join, leave, create up to Options.ChatMaxRooms), the
//     presence list of each room, a typing indicator (relayed as volatile
//     events, which the page repeats while its user types), message
//     acknowledgements (sent when the server acknowledges the message,
//     delivered once another client reported receiving it), and recovery of
//     missed messages after a network drop: through connection state
//     recovery when the server has it enabled, and otherwise from the last
//     Options.ChatHistory messages of each room, which a client gets back
//     when it joins the room again.
//   - /ticker: a market-style feed of a few symbols (random walks) sent at
//     Options.TickerRate ticks per second as volatile broadcasts, each tick
//     carrying the server's send time, so the page shows the end-to-end
//     latency; an acknowledged "ping" event gives the page the server's clock
//     to estimate the clock offset. The page counts the ticks it missed (by
//     their sequence numbers), apart for the connection's start: a volatile
//     tick is dropped for a connection that cannot take it at once, which
//     over long-polling is between two polls and during the upgrade to
//     WebSocket.
//
// Every page shows its connection state (connecting, polling, websocket,
// reconnecting) from socket.io-client's events.
//
// # Wiring
//
// Register expects a server with connection state recovery enabled (the
// chat's recovery of missed messages relies on it; without it the chat falls
// back to its history):
//
//	io := socketio.NewServer(&socketio.Options{
//		ConnectionStateRecovery: &socketio.RecoveryOptions{},
//	})
//	stop := demo.Register(io, demo.Options{})
//	defer stop()
//	mux := http.NewServeMux()
//	mux.Handle("/socket.io/", io)
//	mux.Handle("/", http.FileServerFS(demo.Assets()))
//
// The pages connect at the Socket.IO path that config.js gives them:
// "/socket.io/" in Assets, another with [AssetsWithPath].
//
// # The browser client
//
// The pages use the official socket.io-client browser build, which is not
// committed: ./scripts/build-web.sh installs it from npm (demo/web) and
// copies socket.io.min.js into assets/vendor/ before `go build` embeds the
// folder. When the embedded copy is missing, Assets serves the file from
// demo/web/node_modules of the source tree if it is there; otherwise the
// pages show a banner saying what to install.
//
// State (scores, chat history) lives in the memory of this process: with a
// multi-server adapter the broadcasts reach every server's clients, but each
// server keeps its own scores and history.
package demo
