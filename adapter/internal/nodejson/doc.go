// Package nodejson writes and reads the JSON that Node's Socket.IO
// adapters exchange: objects written field by field in Node's key order,
// arrays of room names, and JSON values read back as the strings
// JavaScript would make of them.
//
// It is shared by package cluster (the ClusterAdapter protocol) and
// package redis (the classic adapter's requests and answers), so that both
// write the same bytes for the same value.
//
// Invariant: every function appends valid JSON, whatever its input: an
// empty raw value is written as null.
package nodejson
