// config.js: the server settings the pages need. This copy has the
// defaults; tether serve answers with its own configuration instead (see
// demo.AssetsWithPath).
'use strict';
var DemoConfig = {"path":"/socket.io/"};
