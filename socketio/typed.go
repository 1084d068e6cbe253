package socketio

import (
	"encoding/json"
	"fmt"
)

// Decode decodes the argument i of args into a T. A missing argument is an
// error; a binary attachment decodes into a []byte (it arrives as base64).
func Decode[T any](args []json.RawMessage, i int) (T, error) {
	var v T
	if i < 0 || i >= len(args) {
		return v, fmt.Errorf("failed to decode argument %d: only %d arguments", i, len(args))
	}
	if err := json.Unmarshal(args[i], &v); err != nil {
		return v, fmt.Errorf("failed to decode argument %d: %w", i, err)
	}
	return v, nil
}

// OnTyped sets the handler of event with its first argument decoded into a
// T. When decoding fails the handler is not called: the error goes to the
// socket's OnError handlers.
func OnTyped[T any](s *Socket, event string, fn func(s *Socket, v T, ack AckFunc)) {
	s.On(event, func(s *Socket, args []json.RawMessage, ack AckFunc) {
		v, err := Decode[T](args, 0)
		if err != nil {
			s.reportError(fmt.Errorf("event %q: %w", event, err))
			return
		}
		fn(s, v, ack)
	})
}
