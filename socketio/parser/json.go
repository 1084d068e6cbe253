package parser

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// The helpers below walk JSON that validJSON has accepted; they do not
// validate again.

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipString returns the index after the JSON string starting at b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the JSON value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	default:
		for i < len(b) {
			switch b[i] {
			case ',', ']', '}', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// SplitArray appends the elements of the JSON array data to dst, as
// sub-slices of data without surrounding whitespace. data must be valid JSON
// (every decoded EVENT and ACK payload is); anything but an array is an error.
func SplitArray(dst []json.RawMessage, data []byte) ([]json.RawMessage, error) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return dst, fmt.Errorf("%w: not an array", ErrPayload)
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return dst, nil
	}
	for i < len(data) {
		end := skipValue(data, i)
		dst = append(dst, json.RawMessage(data[i:end:end]))
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ',' {
			break
		}
		i = skipSpace(data, i+1)
	}
	return dst, nil
}

// stringEquals reports whether the JSON string token tok decodes to s.
func stringEquals(tok []byte, s string) bool {
	raw := tok[1 : len(tok)-1]
	for _, c := range raw {
		if c == '\\' {
			var v string
			return json.Unmarshal(tok, &v) == nil && v == s
		}
	}
	return string(raw) == s
}

// placeholderNum reports whether the object at b[i] is a placeholder and, if
// so, its attachment number (-1 when num is missing or not a non-negative
// integer). end is the index after the object.
func placeholderNum(b []byte, i int) (isPlaceholder bool, num int, end int) {
	end = skipValue(b, i)
	num = -1
	var flag bool
	j := skipSpace(b, i+1)
	for j < end && b[j] == '"' {
		kEnd := skipString(b, j)
		key := b[j:kEnd]
		v := skipSpace(b, skipSpace(b, kEnd)+1) // after ':'
		vEnd := skipValue(b, v)
		switch {
		case stringEquals(key, "_placeholder"):
			flag = string(b[v:vEnd]) == "true"
		case stringEquals(key, "num"):
			num = parseIndex(b[v:vEnd])
		}
		j = skipSpace(b, vEnd)
		if j < end && b[j] == ',' {
			j = skipSpace(b, j+1)
		}
	}
	return flag, num, end
}

// parseIndex parses a small non-negative integer written as plain digits,
// or returns -1.
func parseIndex(b []byte) int {
	if len(b) == 0 || len(b) > 6 {
		return -1
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// walkPlaceholders calls fn for each placeholder in the JSON value at b[i]
// (placeholders are not searched inside placeholders) and returns the index
// after the value. It fails on a placeholder whose num is not below n.
func walkPlaceholders(b []byte, i, n int, fn func(start, end, num int)) (int, error) {
	switch b[i] {
	case '{':
		isPh, num, end := placeholderNum(b, i)
		if isPh {
			if num < 0 || num >= n {
				return end, fmt.Errorf("%w: placeholder %s with %d attachments", ErrAttachments, b[i:end], n)
			}
			if fn != nil {
				fn(i, end, num)
			}
			return end, nil
		}
		j := skipSpace(b, i+1)
		for j < end && b[j] == '"' {
			v := skipSpace(b, skipSpace(b, skipString(b, j))+1)
			vEnd, err := walkPlaceholders(b, v, n, fn)
			if err != nil {
				return end, err
			}
			j = skipSpace(b, vEnd)
			if j < end && b[j] == ',' {
				j = skipSpace(b, j+1)
			}
		}
		return end, nil
	case '[':
		j := skipSpace(b, i+1)
		for j < len(b) && b[j] != ']' {
			vEnd, err := walkPlaceholders(b, j, n, fn)
			if err != nil {
				return vEnd, err
			}
			j = skipSpace(b, vEnd)
			if j < len(b) && b[j] == ',' {
				j = skipSpace(b, j+1)
			}
		}
		return j + 1, nil
	default:
		return skipValue(b, i), nil
	}
}

func checkPlaceholders(data []byte, n int) error {
	_, err := walkPlaceholders(data, skipSpace(data, 0), n, nil)
	return err
}

// InlineAttachments appends to dst a copy of the JSON data in which every
// placeholder is replaced with its attachment as a base64 JSON string
// (standard encoding, with padding), the form encoding/json decodes into a
// []byte. data must be a valid JSON payload as Decode returns it.
func InlineAttachments(dst, data []byte, attachments [][]byte) ([]byte, error) {
	last := 0
	_, err := walkPlaceholders(data, skipSpace(data, 0), len(attachments), func(start, end, num int) {
		dst = append(dst, data[last:start]...)
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, attachments[num])
		dst = append(dst, '"')
		last = end
	})
	if err != nil {
		return dst, err
	}
	return append(dst, data[last:]...), nil
}
