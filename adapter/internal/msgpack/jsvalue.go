package msgpack

import (
	"math"
	"strconv"
	"time"
)

// JavaScript's text forms of numbers and dates, as Node writes them.

// appendJSONNumber appends f as JSON.stringify writes a number: as
// Number.prototype.toString does, except that NaN and the infinities are
// null.
func appendJSONNumber(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	return appendNumberString(dst, f)
}

// appendNumberString appends f as Number.prototype.toString() writes it
// (ECMA-262 Number::toString with radix 10): the shortest digits that read
// back as f, in plain notation from 1e-6 up to (not including) 1e21 and in
// exponent notation (1e+21, 1.5e-7) outside that range; -0 is "0".
func appendNumberString(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	case f == 0:
		return append(dst, '0')
	}
	abs := math.Abs(f)
	if abs < 1<<53 && f == math.Trunc(f) {
		return strconv.AppendInt(dst, int64(f), 10)
	}
	if abs >= 1e-6 && abs < 1e21 {
		return strconv.AppendFloat(dst, f, 'f', -1, 64)
	}
	dst = strconv.AppendFloat(dst, f, 'e', -1, 64)
	// Go writes at least two exponent digits (1.5e-07), JavaScript as few
	// as it needs (1.5e-7).
	if n := len(dst); dst[n-2] == '0' && dst[n-4] == 'e' {
		dst[n-2] = dst[n-1]
		dst = dst[:n-1]
	}
	return dst
}

// maxTime is the largest magnitude of a JavaScript time value (ECMA-262
// TimeClip): 100,000,000 days either side of 1970 in milliseconds.
const maxTime = 8.64e15

// timeClip returns what new Date(t) holds: t truncated to an integer number
// of milliseconds, or false for an invalid date (NaN or out of range).
func timeClip(t float64) (int64, bool) {
	if math.IsNaN(t) || math.Abs(t) > maxTime {
		return 0, false
	}
	return int64(math.Trunc(t)), true
}

// appendISODate appends the time value ms as Date.prototype.toISOString
// writes it: 2024-03-13T12:34:56.789Z, with a signed six-digit year outside
// 0000–9999 (+275760-09-13T00:00:00.000Z).
func appendISODate(dst []byte, ms int64) []byte {
	t := time.UnixMilli(ms).UTC()
	year := t.Year()
	switch {
	case year < 0:
		dst = append(dst, '-')
		dst = appendPadded(dst, -year, 6)
	case year > 9999:
		dst = append(dst, '+')
		dst = appendPadded(dst, year, 6)
	default:
		dst = appendPadded(dst, year, 4)
	}
	dst = append(dst, '-')
	dst = appendPadded(dst, int(t.Month()), 2)
	dst = append(dst, '-')
	dst = appendPadded(dst, t.Day(), 2)
	dst = append(dst, 'T')
	dst = appendPadded(dst, t.Hour(), 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, t.Minute(), 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, t.Second(), 2)
	dst = append(dst, '.')
	dst = appendPadded(dst, t.Nanosecond()/1e6, 3)
	return append(dst, 'Z')
}

// appendDateString appends the time value ms as Date.prototype.toString
// writes it in a process whose time zone is UTC:
// "Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)".
func appendDateString(dst []byte, ms int64) []byte {
	t := time.UnixMilli(ms).UTC()
	dst = append(dst, t.Weekday().String()[:3]...)
	dst = append(dst, ' ')
	dst = append(dst, t.Month().String()[:3]...)
	dst = append(dst, ' ')
	dst = appendPadded(dst, t.Day(), 2)
	dst = append(dst, ' ')
	year := t.Year()
	if year < 0 {
		dst = append(dst, '-')
		year = -year
	}
	dst = appendPadded(dst, year, 4)
	dst = append(dst, ' ')
	dst = appendPadded(dst, t.Hour(), 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, t.Minute(), 2)
	dst = append(dst, ':')
	dst = appendPadded(dst, t.Second(), 2)
	return append(dst, " GMT+0000 (Coordinated Universal Time)"...)
}

// appendPadded appends the non-negative n in decimal with at least width
// digits.
func appendPadded(dst []byte, n, width int) []byte {
	var buf [20]byte
	b := strconv.AppendInt(buf[:0], int64(n), 10)
	for i := len(b); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, b...)
}
