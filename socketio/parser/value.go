package parser

import (
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// AppendValue appends the JSON encoding of v to dst, as encoding/json would
// write it, except that every []byte (at any depth, including named byte
// slice types without their own MarshalJSON) becomes a placeholder
// {"_placeholder":true,"num":N} and is appended to attachments, and so does
// every binary part of a [RawValue]. It returns the extended dst and
// attachments.
//
// Common values (nil, strings, bools, numbers, json.RawMessage, []byte) are
// written without reflection or allocation; values whose type cannot hold a
// []byte go through json.Marshal.
func AppendValue(dst []byte, v any, attachments [][]byte) ([]byte, [][]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), attachments, nil
	case string:
		return AppendString(dst, x), attachments, nil
	case bool:
		return strconv.AppendBool(dst, x), attachments, nil
	case int:
		return strconv.AppendInt(dst, int64(x), 10), attachments, nil
	case int64:
		return strconv.AppendInt(dst, x, 10), attachments, nil
	case int32:
		return strconv.AppendInt(dst, int64(x), 10), attachments, nil
	case uint:
		return strconv.AppendUint(dst, uint64(x), 10), attachments, nil
	case uint64:
		return strconv.AppendUint(dst, x, 10), attachments, nil
	case uint32:
		return strconv.AppendUint(dst, uint64(x), 10), attachments, nil
	case float64:
		return appendFloat(dst, x, 64, attachments)
	case float32:
		return appendFloat(dst, float64(x), 32, attachments)
	case json.RawMessage:
		if x == nil {
			return append(dst, "null"...), attachments, nil
		}
		if !validJSON(x) {
			return dst, attachments, fmt.Errorf("failed to encode value: invalid json.RawMessage")
		}
		return append(dst, x...), attachments, nil
	case []byte:
		return appendPlaceholder(dst, x, attachments)
	case RawValue:
		return appendRaw(dst, x, attachments)
	case *RawValue:
		if x == nil {
			return append(dst, "null"...), attachments, nil
		}
		return appendRaw(dst, *x, attachments)
	}
	rv := reflect.ValueOf(v)
	if !containsBinary(rv.Type()) {
		b, err := json.Marshal(v)
		if err != nil {
			return dst, attachments, fmt.Errorf("failed to encode value: %w", err)
		}
		return append(dst, b...), attachments, nil
	}
	return appendReflect(dst, rv, attachments)
}

func appendPlaceholder(dst []byte, b []byte, attachments [][]byte) ([]byte, [][]byte, error) {
	if b == nil {
		return append(dst, "null"...), attachments, nil
	}
	dst = append(dst, `{"_placeholder":true,"num":`...)
	dst = strconv.AppendInt(dst, int64(len(attachments)), 10)
	dst = append(dst, '}')
	return dst, append(attachments, b), nil
}

// appendFloat writes f the way encoding/json does.
func appendFloat(dst []byte, f float64, bits int, att [][]byte) ([]byte, [][]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, att, fmt.Errorf("failed to encode value: unsupported float %v", f)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, att, nil
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string, escaping like encoding/json
// (without the HTML escapes); invalid UTF-8 becomes U+FFFD.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

var (
	marshalerType     = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	binaryCache       sync.Map // reflect.Type -> bool
)

func hasMarshaler(t reflect.Type) bool {
	if t.Implements(marshalerType) || t.Implements(textMarshalerType) {
		return true
	}
	if t.Kind() != reflect.Pointer {
		p := reflect.PointerTo(t)
		return p.Implements(marshalerType) || p.Implements(textMarshalerType)
	}
	return false
}

func isByteSlice(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 && !hasMarshaler(t.Elem())
}

// containsBinary reports whether a value of type t may hold a []byte that
// AppendValue turns into an attachment (interfaces may hold anything).
func containsBinary(t reflect.Type) bool {
	if v, ok := binaryCache.Load(t); ok {
		return v.(bool)
	}
	seen := map[reflect.Type]bool{}
	var visit func(t reflect.Type) bool
	visit = func(t reflect.Type) bool {
		if seen[t] {
			return false
		}
		seen[t] = true
		if t == rawValueType {
			return true
		}
		if hasMarshaler(t) {
			return false
		}
		switch t.Kind() {
		case reflect.Interface:
			return true
		case reflect.Slice:
			return isByteSlice(t) || visit(t.Elem())
		case reflect.Pointer, reflect.Array:
			return visit(t.Elem())
		case reflect.Map:
			return visit(t.Elem())
		case reflect.Struct:
			for _, f := range cachedFields(t) {
				if visit(f.typ) {
					return true
				}
			}
		}
		return false
	}
	r := visit(t)
	binaryCache.Store(t, r)
	return r
}

func appendReflect(dst []byte, v reflect.Value, att [][]byte) ([]byte, [][]byte, error) {
	if !v.IsValid() {
		return append(dst, "null"...), att, nil
	}
	t := v.Type()
	if t == rawValueType {
		return appendRaw(dst, rawOf(v), att)
	}
	if t.Kind() == reflect.Pointer && t.Elem() == rawValueType {
		if v.IsNil() {
			return append(dst, "null"...), att, nil
		}
		return appendRaw(dst, rawOf(v.Elem()), att)
	}
	if hasMarshaler(t) || !containsBinary(t) {
		if t.Kind() == reflect.Pointer && v.IsNil() {
			return append(dst, "null"...), att, nil
		}
		b, err := json.Marshal(v.Interface())
		if err != nil {
			return dst, att, fmt.Errorf("failed to encode value: %w", err)
		}
		return append(dst, b...), att, nil
	}
	switch t.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return append(dst, "null"...), att, nil
		}
		return appendReflect(dst, v.Elem(), att)
	case reflect.Slice:
		if v.IsNil() {
			return append(dst, "null"...), att, nil
		}
		if isByteSlice(t) {
			return appendPlaceholder(dst, v.Bytes(), att)
		}
		fallthrough
	case reflect.Array:
		dst = append(dst, '[')
		var err error
		for i := 0; i < v.Len(); i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, att, err = appendReflect(dst, v.Index(i), att); err != nil {
				return dst, att, err
			}
		}
		return append(dst, ']'), att, nil
	case reflect.Map:
		if v.IsNil() {
			return append(dst, "null"...), att, nil
		}
		type kv struct {
			k string
			v reflect.Value
		}
		kvs := make([]kv, 0, v.Len())
		it := v.MapRange()
		for it.Next() {
			k, err := mapKey(it.Key())
			if err != nil {
				return dst, att, err
			}
			kvs = append(kvs, kv{k, it.Value()})
		}
		slices.SortFunc(kvs, func(a, b kv) int { return strings.Compare(a.k, b.k) })
		dst = append(dst, '{')
		var err error
		for i, e := range kvs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = AppendString(dst, e.k)
			dst = append(dst, ':')
			if dst, att, err = appendReflect(dst, e.v, att); err != nil {
				return dst, att, err
			}
		}
		return append(dst, '}'), att, nil
	case reflect.Struct:
		dst = append(dst, '{')
		first := true
		var err error
		for _, f := range cachedFields(t) {
			fv, ok := fieldByIndex(v, f.index)
			if !ok || f.omitEmpty && isEmptyValue(fv) {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = AppendString(dst, f.name)
			dst = append(dst, ':')
			if f.quoted {
				b, err := json.Marshal(fv.Interface())
				if err != nil {
					return dst, att, fmt.Errorf("failed to encode field %s: %w", f.name, err)
				}
				dst = AppendString(dst, string(b))
				continue
			}
			if dst, att, err = appendReflect(dst, fv, att); err != nil {
				return dst, att, err
			}
		}
		return append(dst, '}'), att, nil
	}
	// Kinds that cannot contain binary are handled by json.Marshal above.
	return dst, att, fmt.Errorf("failed to encode value of type %s", t)
}

func mapKey(k reflect.Value) (string, error) {
	if k.Kind() == reflect.String {
		return k.String(), nil
	}
	if tm, ok := k.Interface().(encoding.TextMarshaler); ok {
		if k.Kind() == reflect.Pointer && k.IsNil() {
			return "", nil
		}
		b, err := tm.MarshalText()
		return string(b), err
	}
	switch k.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(k.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(k.Uint(), 10), nil
	}
	return "", fmt.Errorf("failed to encode value: unsupported map key type %s", k.Type())
}

func fieldByIndex(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

type field struct {
	name      string
	index     []int
	typ       reflect.Type
	omitEmpty bool
	quoted    bool
	tagged    bool
}

var fieldCache sync.Map // reflect.Type -> []field

// cachedFields returns the JSON fields of struct type t following
// encoding/json's rules: exported fields, `json` tag names and options,
// promoted fields of embedded structs, and the dominance rules for names that
// appear more than once.
func cachedFields(t reflect.Type) []field {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]field)
	}
	type queued struct {
		typ   reflect.Type
		index []int
	}
	var all []field
	current := []queued{{typ: t}}
	visited := map[reflect.Type]bool{}
	for len(current) > 0 {
		var next []queued
		for _, q := range current {
			if visited[q.typ] {
				continue
			}
			visited[q.typ] = true
			for i := 0; i < q.typ.NumField(); i++ {
				sf := q.typ.Field(i)
				if sf.Anonymous {
					ft := sf.Type
					if ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				index := append(slices.Clone(q.index), i)
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if sf.Anonymous && name == "" && ft.Kind() == reflect.Struct {
					next = append(next, queued{typ: ft, index: index})
					continue
				}
				f := field{name: name, index: index, typ: sf.Type, tagged: name != ""}
				if f.name == "" {
					f.name = sf.Name
				}
				for opt := range strings.SplitSeq(opts, ",") {
					switch opt {
					case "omitempty":
						f.omitEmpty = true
					case "string":
						switch sf.Type.Kind() {
						case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
							reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
							reflect.Float32, reflect.Float64, reflect.String:
							f.quoted = true
						}
					}
				}
				all = append(all, f)
			}
		}
		current = next
	}
	// Dominance: for each name keep the shallowest field; among several at
	// that depth keep the single tagged one, or none.
	byName := map[string][]field{}
	for _, f := range all {
		byName[f.name] = append(byName[f.name], f)
	}
	var out []field
	for _, f := range all {
		group := byName[f.name]
		minDepth := len(group[0].index)
		for _, g := range group {
			minDepth = min(minDepth, len(g.index))
		}
		var cands []field
		for _, g := range group {
			if len(g.index) == minDepth {
				cands = append(cands, g)
			}
		}
		var winner *field
		if len(cands) == 1 {
			winner = &cands[0]
		} else {
			var tagged []field
			for _, c := range cands {
				if c.tagged {
					tagged = append(tagged, c)
				}
			}
			if len(tagged) == 1 {
				winner = &tagged[0]
			}
		}
		if winner != nil && slices.Equal(winner.index, f.index) {
			out = append(out, f)
		}
	}
	slices.SortFunc(out, func(a, b field) int { return slices.Compare(a.index, b.index) })
	fieldCache.Store(t, out)
	return out
}
