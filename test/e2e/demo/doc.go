// Package demoe2e holds the browser end-to-end tests of the demo apps
// (package demo): Debian's Chromium, driven by playwright-core from the
// Node scripts of this folder, opens the pages served by an in-process
// server on loopback, set up as `tether serve` sets it up (package server
// in its default configuration, the demo namespaces added to it,
// demo.Register, the pages at "/"), except for the Socket.IO path, /rt/,
// which the pages learn from config.js:
//
//   - leaderboard.mjs: two pages; a score in one shows in the other, and
//     the bot mode toggled in one drives both;
//   - chat.mjs: two pages chat (presence, typing, sent and delivered ticks);
//     one goes offline, misses a message, and gets it on reconnecting with
//     its session recovered;
//   - polling.mjs: the server refuses WebSocket upgrades; the chat and the
//     ticker work over long-polling and the pages say "polling";
//   - pages.mjs: the chat says "not connected" until a name is entered;
//     the ticker labels its change (since the open), keeps the last tick's
//     direction apart from it, and splits its dropped ticks;
//   - origin.mjs: a page on another origin cannot open a socket on the
//     server, over polling or WebSocket (the server's Origin policy).
//
// The scripts report as JSON lines on stdout. The tests need `node`, this
// folder's node_modules (`npm ci`), /usr/bin/chromium, and the socket.io
// client script (demo/web/node_modules, installed by `npm ci` there or by
// scripts/build-web.sh); without them they skip, unless
// TETHER_REQUIRE_PEERS is set (as ./scripts/test.sh does), and then they
// fail. screenshots.mjs (run by hand) takes the screenshots of the README.
package demoe2e
