// Package adminuie2e holds the end-to-end test of the Socket.IO Admin UI
// (package adminui): the official UI's static files (ui/dist of the npm
// package @socket.io/admin-ui, installed by `npm ci` in this folder, not
// committed), served on an origin of their own, run in Chromium by
// playwright-core against a Tether server (package server) with admin_ui
// enabled, origins and cors_credentials set for the UI, and three
// socket.io-client clients in Node (admin.mjs). The test checks that the
// UI logs in (and refuses a wrong password), that its dashboard and
// sockets pages show the clients, and that its join, leave and disconnect
// buttons act on them.
//
// The tests need `node`, this folder's node_modules (`npm ci`) and
// /usr/bin/chromium (or TETHER_CHROMIUM); without them they skip, unless
// TETHER_REQUIRE_PEERS is set (as ./scripts/test.sh does), and then they
// fail. With TETHER_ADMINUI_SCREENSHOTS=docs/screenshots (a folder, relative
// to the repository's root) the test writes there the screenshots of the
// README (admin-ui-dashboard.png, admin-ui-sockets.png, admin-ui-socket.png).
package adminuie2e
