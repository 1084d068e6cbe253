package parser

import (
	"bytes"
	"encoding/json"
)

// AppendOffset returns a copy of data, the JSON array of an EVENT packet's
// name and arguments, with the connection state recovery offset appended
// as its last element, as socket.io sends a broadcast that a recovered
// session may replay. data is not modified; data that is not an array
// gives the array of the offset alone.
func AppendOffset(data json.RawMessage, offset string) json.RawMessage {
	end := len(data) - 1
	for end > 0 && data[end] != ']' {
		end--
	}
	if end < 1 || data[0] != '[' {
		return append(AppendString([]byte{'['}, offset), ']')
	}
	out := make([]byte, 0, len(data)+len(offset)+3)
	out = append(out, data[:end]...)
	if len(bytes.TrimSpace(data[1:end])) > 0 {
		out = append(out, ',')
	}
	out = AppendString(out, offset)
	return append(out, data[end:]...)
}
