package load

import (
	"encoding/json"
	"math"
)

// received is what a receiver reads of a message's payload.
type received struct {
	T int64  `json:"t"`
	M bool   `json:"m"`
	S uint64 `json:"s"`
	W int    `json:"w"`
	K int    `json:"k"`
}

// decodePayload reads the fields of a payload into p as json.Unmarshal
// would, and reports whether it succeeded. A payload as tether load writes
// it (an object of plain keys, integers, booleans and strings without
// escapes, no spaces) is read by a scan that allocates nothing, the rest by
// json.Unmarshal: receiving is most of the load generator's work, and it
// shares the machine with the servers it measures.
func decodePayload(b []byte, p *received) bool {
	if scanPayload(b, p) {
		return true
	}
	// Not p: json.Unmarshal would make every caller's p escape to the
	// heap, an allocation per received message.
	var q received
	ok := json.Unmarshal(b, &q) == nil
	*p = q
	return ok
}

// scanPayload is decodePayload's scan: false when b is not in the plain
// form (p is then partly filled).
func scanPayload(b []byte, p *received) bool {
	*p = received{}
	if len(b) < 2 || b[0] != '{' {
		return false
	}
	i := 1
	if b[i] == '}' {
		return i+1 == len(b)
	}
	for {
		// A key: a string without escapes.
		ks, ke, ok := plainString(b, i)
		if !ok || ke+1 >= len(b) || b[ke+1] != ':' {
			return false
		}
		i = ke + 2
		switch key := string(b[ks:ke]); key { // no allocation
		case "t", "w", "k":
			n, j, ok := plainInt(b, i)
			if !ok {
				return false
			}
			switch b[ks] {
			case 't':
				p.T = n
			case 'w':
				p.W = int(n)
			default:
				p.K = int(n)
			}
			i = j
		case "s":
			if i < len(b) && b[i] == '-' {
				return false
			}
			n, j, ok := plainInt(b, i)
			if !ok {
				return false
			}
			p.S, i = uint64(n), j
		case "m":
			switch {
			case hasAt(b, i, "true"):
				p.M, i = true, i+4
			case hasAt(b, i, "false"):
				p.M, i = false, i+5
			default:
				return false
			}
		case "room", "p":
			_, e, ok := plainString(b, i)
			if !ok {
				return false
			}
			i = e + 1
		default:
			return false
		}
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			return i+1 == len(b)
		default:
			return false
		}
	}
}

// plainString finds a JSON string at b[i:] made of printable ASCII
// without escapes, and returns where its contents start and end (the
// index of its closing quote).
func plainString(b []byte, i int) (start, end int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return i + 1, j, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return 0, 0, false
		}
	}
	return 0, 0, false
}

// plainInt reads a JSON integer at b[i:] (no fraction, no exponent, within
// int64) and returns it and the index after it.
func plainInt(b []byte, i int) (int64, int, bool) {
	neg := i < len(b) && b[i] == '-'
	if neg {
		i++
	}
	start := i
	var n uint64
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		if n > (math.MaxInt64-9)/10 {
			return 0, 0, false // maybe beyond int64: json.Unmarshal decides
		}
		n = n*10 + uint64(b[i]-'0')
		i++
	}
	if i == start || (b[start] == '0' && i > start+1) {
		return 0, 0, false
	}
	if i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E') {
		return 0, 0, false
	}
	if neg {
		return -int64(n), i, true
	}
	return int64(n), i, true
}

func hasAt(b []byte, i int, s string) bool {
	return len(b)-i >= len(s) && string(b[i:i+len(s)]) == s
}
