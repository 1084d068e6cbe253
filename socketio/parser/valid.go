package parser

import "encoding/json"

// maxDepth is the deepest nesting of arrays and objects validJSON
// accepts: encoding/json's limit, so that both accept the same texts.
const maxDepth = 10000

// validJSON reports whether b is one JSON value, with white space around
// it or not, exactly as json.Valid does (strings are not checked for valid
// UTF-8; nesting deeper than maxDepth is refused), in one pass without
// encoding/json's scanner, which costs a function call per byte: every
// packet a client or a server receives is checked.
func validJSON(b []byte) bool {
	return validSplit(b, nil)
}

// validSplitArray is validJSON that also appends the elements of b, when
// it is an array, to *args as SplitArray does, in the same pass; *args is
// unchanged when b is not valid.
func validSplitArray(b []byte, args *[]json.RawMessage) bool {
	n := len(*args)
	if !validSplit(b, args) {
		*args = (*args)[:n]
		return false
	}
	return true
}

// validSplit is validJSON, and validSplitArray with a non-nil args.
func validSplit(b []byte, args *[]json.RawMessage) bool {
	var small [32]byte
	stack := small[:0] // the open containers: '[' or '{'
	elem := -1         // with args: where the top array's current element starts
	i := skipSpace(b, 0)
	for {
		// A value at b[i].
		if i >= len(b) {
			return false
		}
		switch c := b[i]; {
		case c == '"':
			if i = endString(b, i); i < 0 {
				return false
			}
		case c == '{' || c == '[':
			if len(stack) == maxDepth {
				return false
			}
			stack = append(stack, c)
			i = skipSpace(b, i+1)
			if i < len(b) && b[i] == c+2 { // '}' or ']': empty
				stack = stack[:len(stack)-1]
				i++
				break
			}
			if args != nil && len(stack) == 1 && c == '[' {
				elem = i
			}
			if c == '{' {
				if i = key(b, i); i < 0 {
					return false
				}
			}
			continue
		case c == '-' || c >= '0' && c <= '9':
			if i = endNumber(b, i); i < 0 {
				return false
			}
		case c == 't':
			if !hasLiteral(b, i, "true") {
				return false
			}
			i += 4
		case c == 'f':
			if !hasLiteral(b, i, "false") {
				return false
			}
			i += 5
		case c == 'n':
			if !hasLiteral(b, i, "null") {
				return false
			}
			i += 4
		default:
			return false
		}
		// After a value: close containers, or go on to the next value.
		for {
			end := i
			i = skipSpace(b, i)
			if len(stack) == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			top := stack[len(stack)-1]
			if elem >= 0 && len(stack) == 1 && (b[i] == ']' || b[i] == ',') {
				// The end of an element of the top array (which
				// validSplitArray's caller drops if the rest fails).
				*args = append(*args, json.RawMessage(b[elem:end:end]))
			}
			if b[i] == top+2 {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			if b[i] != ',' {
				return false
			}
			i = skipSpace(b, i+1)
			if elem >= 0 && len(stack) == 1 {
				elem = i
			}
			if top == '{' {
				if i = key(b, i); i < 0 {
					return false
				}
			}
			break
		}
	}
}

// key reads an object's key and its colon at b[i:], and returns the index
// of its value (after white space), or -1.
func key(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = endString(b, i); i < 0 {
		return -1
	}
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != ':' {
		return -1
	}
	return skipSpace(b, i+1)
}

// endString returns the index after the JSON string that starts at b[i]
// (a quote), or -1 when it is not one: unterminated, a control character,
// or a bad escape.
func endString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			i++
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i <= 4 || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					return -1
				}
				i += 4
			default:
				return -1
			}
		}
	}
	return -1
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// endNumber returns the index after the JSON number that starts at b[i],
// or -1 when it is not one.
func endNumber(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return -1
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		i = skipDigits(b, i)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := skipDigits(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := skipDigits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

// skipDigits returns the index after the decimal digits at b[i:].
func skipDigits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

func hasLiteral(b []byte, i int, lit string) bool {
	return len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit
}
