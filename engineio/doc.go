// Package engineio implements an Engine.IO server (protocol v4, and v3 on
// request).
package engineio
