package msgpack

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"
)

// Encoder appends MessagePack values to Buf, each in the format Node's
// library of the chosen Flavor would write for the same JavaScript value:
// the smallest integer, length and count formats, float 64 for numbers that
// are not integers. A caller writes an adapter's envelope value by value, in
// Node's key order, with no reflection:
//
//	e := msgpack.Encoder{Buf: buf[:0]}
//	e.ArrayHeader(3)
//	e.Str(uid)
//	e.MapHeader(3)
//	e.Str("type")
//	e.Int(2)
//	e.Str("data")
//	if err := e.JSON(packet.Data, packet.Attachments); err != nil { … }
//	e.Str("nsp")
//	e.Str("/")
//	…
//	publish(e.Buf)
//
// The zero Encoder (Notepack, DefaultMaxDepth) is ready to use. Appending
// into a Buf with enough capacity does not allocate. An Encoder is not safe
// for concurrent use.
//
// The Header, Str and Bin methods panic on a length that MessagePack cannot
// express (negative or above 2^32-1), as append does on a length that does
// not fit memory.
type Encoder struct {
	// Buf is where values are appended.
	Buf []byte
	// Flavor selects the library whose number encoding is mirrored.
	Flavor Flavor
	// MaxDepth limits the nesting of JSON and Any values; 0 means
	// DefaultMaxDepth.
	MaxDepth int
}

func (e *Encoder) maxDepth() int {
	if e.MaxDepth > 0 {
		return e.MaxDepth
	}
	return DefaultMaxDepth
}

// Nil appends nil (JavaScript null).
func (e *Encoder) Nil() { e.Buf = append(e.Buf, 0xc0) }

// Bool appends true or false.
func (e *Encoder) Bool(v bool) {
	if v {
		e.Buf = append(e.Buf, 0xc3)
	} else {
		e.Buf = append(e.Buf, 0xc2)
	}
}

// Int appends v in the smallest integer format: a uint format for v >= 0,
// an int format for v < 0, as both JavaScript libraries do.
func (e *Encoder) Int(v int64) { e.Buf = appendInt(e.Buf, v) }

// Uint appends v in the smallest uint format.
func (e *Encoder) Uint(v uint64) { e.Buf = appendUint(e.Buf, v) }

// Float64 appends v as float 64, whatever its value.
func (e *Encoder) Float64(v float64) { e.Buf = appendFloat64(e.Buf, v) }

// Number appends v as the flavor's library encodes a JavaScript number:
// an integer in the smallest int or uint format, anything else (fractions,
// infinities, NaN, and integers the library would not write as such) as
// float 64. -0 is written as the integer 0, as both libraries do.
func (e *Encoder) Number(v float64) { e.Buf = appendNumber(e.Buf, v, e.Flavor) }

// Str appends s as a str. The bytes are written as they are: s should be
// UTF-8 (Node replaces ill-formed sequences with U+FFFD when it decodes).
func (e *Encoder) Str(s string) {
	e.Buf = appendStrHeader(e.Buf, len(s))
	e.Buf = append(e.Buf, s...)
}

// StrBytes appends s as a str, as [Encoder.Str] does.
func (e *Encoder) StrBytes(s []byte) {
	e.Buf = appendStrHeader(e.Buf, len(s))
	e.Buf = append(e.Buf, s...)
}

// Strs appends the array of the strings ss.
func (e *Encoder) Strs(ss []string) {
	e.ArrayHeader(len(ss))
	for _, s := range ss {
		e.Str(s)
	}
}

// Bin appends b as a bin (a Buffer in Node). A nil b is an empty bin.
func (e *Encoder) Bin(b []byte) { e.Buf = appendBin(e.Buf, b) }

// ArrayHeader appends the header of an array of n elements; the caller
// appends the n elements next.
func (e *Encoder) ArrayHeader(n int) { e.Buf = appendArrayHeader(e.Buf, n) }

// MapHeader appends the header of a map of n pairs; the caller appends
// the n keys and values next, each key before its value.
func (e *Encoder) MapHeader(n int) { e.Buf = appendMapHeader(e.Buf, n) }

// Raw appends b, which must be exactly one well-formed MessagePack value,
// such as one that [Decoder.ReadRaw] captured. Raw does not check it.
func (e *Encoder) Raw(b []byte) { e.Buf = append(e.Buf, b...) }

// Time appends t as the timestamp extension (type -1) that both libraries
// write for a JavaScript Date, which holds whole milliseconds: t is
// truncated to the millisecond (toward the past, as Math.floor) first.
func (e *Encoder) Time(t time.Time) {
	ms := t.UnixMilli() // floor: t's nanoseconds are never negative
	sec := ms / 1000
	if ms%1000 < 0 {
		sec--
	}
	nsec := uint32(ms-sec*1000) * 1e6
	switch {
	case sec >= 0 && sec <= 1<<34-1 && nsec == 0 && sec <= math.MaxUint32:
		e.Buf = append(e.Buf, 0xd6, 0xff)
		e.Buf = binary.BigEndian.AppendUint32(e.Buf, uint32(sec))
	case sec >= 0 && sec <= 1<<34-1:
		e.Buf = append(e.Buf, 0xd7, 0xff)
		e.Buf = binary.BigEndian.AppendUint64(e.Buf, uint64(nsec)<<34|uint64(sec))
	default:
		e.Buf = append(e.Buf, 0xc7, 12, 0xff)
		e.Buf = binary.BigEndian.AppendUint32(e.Buf, nsec)
		e.Buf = binary.BigEndian.AppendUint64(e.Buf, uint64(sec))
	}
}

// Any appends v, a Go value of one of the types [Decoder.ReadAny] returns
// or a few more: nil; bool; the int, uint and float types (floats as
// [Encoder.Number], so 2.0 is the integer 2 as in JavaScript); string;
// []byte (bin); time.Time; json.RawMessage (transcoded as
// [Encoder.JSONValue]); []any, []string, map[string]any and
// map[string]string, whose keys are written in sorted order. Any other type
// fails with ErrUnsupported and leaves Buf as it was.
func (e *Encoder) Any(v any) error {
	start := len(e.Buf)
	if err := e.any(v, 0); err != nil {
		e.Buf = e.Buf[:start]
		return err
	}
	return nil
}

func (e *Encoder) any(v any, depth int) error {
	switch x := v.(type) {
	case nil:
		e.Nil()
	case bool:
		e.Bool(x)
	case int:
		e.Int(int64(x))
	case int8:
		e.Int(int64(x))
	case int16:
		e.Int(int64(x))
	case int32:
		e.Int(int64(x))
	case int64:
		e.Int(x)
	case uint:
		e.Uint(uint64(x))
	case uint8:
		e.Uint(uint64(x))
	case uint16:
		e.Uint(uint64(x))
	case uint32:
		e.Uint(uint64(x))
	case uint64:
		e.Uint(x)
	case float32:
		e.Number(float64(x))
	case float64:
		e.Number(x)
	case string:
		e.Str(x)
	case []byte:
		e.Bin(x)
	case time.Time:
		e.Time(x)
	case json.RawMessage:
		if x == nil {
			e.Nil()
			return nil
		}
		return e.JSONValue(x)
	case []any:
		if depth >= e.maxDepth() {
			return fmt.Errorf("%w: more than %d levels", ErrDepth, e.maxDepth())
		}
		e.ArrayHeader(len(x))
		for _, el := range x {
			if err := e.any(el, depth+1); err != nil {
				return err
			}
		}
	case []string:
		e.ArrayHeader(len(x))
		for _, s := range x {
			e.Str(s)
		}
	case map[string]any:
		if depth >= e.maxDepth() {
			return fmt.Errorf("%w: more than %d levels", ErrDepth, e.maxDepth())
		}
		e.MapHeader(len(x))
		for _, k := range sortedKeys(x) {
			e.Str(k)
			if err := e.any(x[k], depth+1); err != nil {
				return err
			}
		}
	case map[string]string:
		e.MapHeader(len(x))
		for _, k := range sortedKeys(x) {
			e.Str(k)
			e.Str(x[k])
		}
	default:
		return fmt.Errorf("%w: %T", ErrUnsupported, v)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func checkLen(n int) {
	if n < 0 || uint64(n) > math.MaxUint32 {
		panic(fmt.Sprintf("msgpack: length %d out of range", n))
	}
}

func appendUint(dst []byte, v uint64) []byte {
	switch {
	case v < 0x80:
		return append(dst, byte(v))
	case v <= math.MaxUint8:
		return append(dst, 0xcc, byte(v))
	case v <= math.MaxUint16:
		return append(dst, 0xcd, byte(v>>8), byte(v))
	case v <= math.MaxUint32:
		return append(dst, 0xce, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	dst = append(dst, 0xcf)
	return binary.BigEndian.AppendUint64(dst, v)
}

func appendInt(dst []byte, v int64) []byte {
	switch {
	case v >= 0:
		return appendUint(dst, uint64(v))
	case v >= -32:
		return append(dst, byte(v))
	case v >= math.MinInt8:
		return append(dst, 0xd0, byte(v))
	case v >= math.MinInt16:
		return append(dst, 0xd1, byte(v>>8), byte(v))
	case v >= math.MinInt32:
		return append(dst, 0xd2, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	dst = append(dst, 0xd3)
	return binary.BigEndian.AppendUint64(dst, uint64(v))
}

func appendFloat64(dst []byte, v float64) []byte {
	dst = append(dst, 0xcb)
	return binary.BigEndian.AppendUint64(dst, math.Float64bits(v))
}

// maxSafeInteger is JavaScript's Number.MAX_SAFE_INTEGER, 2^53-1.
const maxSafeInteger = 1<<53 - 1

// appendNumber appends the JavaScript number v as flavor's library does:
//
//   - notepack.io writes every integral value as an integer, in the uint
//     formats from 0 (and -0) up and in the int formats below; it garbles
//     integers from 2^64 up and below -2^63 (it writes them modulo 2^64),
//     which are written as float 64 here;
//   - @msgpack/msgpack writes the safe integers (|v| <= 2^53-1) as
//     integers, and every other number as float 64.
//
// NaN is written with the bits of JavaScript's NaN.
func appendNumber(dst []byte, v float64, flavor Flavor) []byte {
	if v == math.Trunc(v) && !math.IsInf(v, 0) {
		switch flavor {
		case MsgpackJS:
			if math.Abs(v) <= maxSafeInteger {
				return appendInt(dst, int64(v))
			}
		default:
			if v >= 0 && v < 1<<64 {
				return appendUint(dst, uint64(v))
			}
			if v < 0 && v >= math.MinInt64 {
				return appendInt(dst, int64(v))
			}
		}
	}
	if v != v {
		// JavaScript has one NaN, whose bits Node writes; Go's
		// math.NaN() has others.
		return append(dst, 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0)
	}
	return appendFloat64(dst, v)
}

func appendArrayHeader(dst []byte, n int) []byte {
	checkLen(n)
	switch {
	case n < 16:
		return append(dst, 0x90|byte(n))
	case n <= math.MaxUint16:
		return append(dst, 0xdc, byte(n>>8), byte(n))
	}
	return append(dst, 0xdd, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func appendMapHeader(dst []byte, n int) []byte {
	checkLen(n)
	switch {
	case n < 16:
		return append(dst, 0x80|byte(n))
	case n <= math.MaxUint16:
		return append(dst, 0xde, byte(n>>8), byte(n))
	}
	return append(dst, 0xdf, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func appendStrHeader(dst []byte, n int) []byte {
	checkLen(n)
	switch {
	case n < 32:
		return append(dst, 0xa0|byte(n))
	case n <= math.MaxUint8:
		return append(dst, 0xd9, byte(n))
	case n <= math.MaxUint16:
		return append(dst, 0xda, byte(n>>8), byte(n))
	}
	return append(dst, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func appendBin(dst, b []byte) []byte {
	n := len(b)
	checkLen(n)
	switch {
	case n <= math.MaxUint8:
		dst = append(dst, 0xc4, byte(n))
	case n <= math.MaxUint16:
		dst = append(dst, 0xc5, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0xc6, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, b...)
}
