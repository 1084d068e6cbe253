package msgpack

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// gen writes random JSON texts and MessagePack values for the cross-check
// against Node and for the round-trip tests. It records whether what it
// wrote has keys that JavaScript reorders or merges (array indexes,
// duplicates, property names it cannot predict), where only the values,
// not the bytes, can be compared with Node's.
type gen struct {
	r *rand.Rand
	// reorder: the text or value has object keys whose order or number
	// JavaScript changes.
	reorder bool
	// natts: how many attachments placeholders may refer to (JSON).
	natts int
	// flavor: which library's map key rules the MessagePack follows.
	flavor Flavor
	// mapValue: the value being written is a map's value, which must not
	// be notepack's undefined (JavaScript assigns it, so that it wipes an
	// earlier duplicate; it is left out here, see the package
	// documentation).
	mapValue bool
}

func newGen(seed uint64) *gen {
	return &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (g *gen) reset() {
	g.reorder = false
}

func (g *gen) n(k int) int { return g.r.IntN(k) }

// interestingInts are the integers at the edges of the formats and of
// what JavaScript and the libraries handle exactly.
var interestingInts = []float64{
	0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, 1<<31 - 1, 1 << 31, 1<<32 - 1, 1 << 32,
	1<<53 - 1, 1 << 53, 1<<53 + 2, 1 << 62, 1 << 63, 1<<64 - 2048, 1 << 64, 1e20, 1e21, 1e300,
	-1, -31, -32, -33, -127, -128, -129, -32768, -32769, -(1 << 31), -(1 << 31) - 1,
	-(1 << 53) + 1, -(1 << 53), -(1 << 63), -(1 << 63) - 4096, -1e20,
}

// jsonNumber appends a JSON number: integers at the edges, random doubles
// in JavaScript's and Go's notations, and non-canonical spellings.
func (g *gen) jsonNumber(b []byte) []byte {
	switch g.n(8) {
	case 0, 1:
		return strconv.AppendInt(b, int64(g.n(400))-100, 10)
	case 2:
		return appendNumberString(b, interestingInts[g.n(len(interestingInts))])
	case 3:
		f := g.double()
		return appendNumberString(b, f)
	case 4:
		return strconv.AppendFloat(b, g.double(), 'g', -1, 64)
	case 5:
		f := float64(g.n(2000)-1000) / float64(int(1)<<g.n(12))
		return appendNumberString(b, f)
	case 6:
		forms := []string{"1.0", "-0", "-0.0", "0.0", "1E2", "1e+2", "1e-0", "2.50", "0.1e1", "-1e400", "1e400",
			"1e-400", "123456789012345678901234567890", "0.000001", "1e-7", "9007199254740993",
			"18446744073709551615", "-9223372036854775809", "4.9e-324", "1.7976931348623157e308"}
		return append(b, forms[g.n(len(forms))]...)
	default:
		return strconv.AppendInt(b, g.r.Int64N(1<<40)-1<<39, 10)
	}
}

// double returns a random finite double, spread over the exponents.
func (g *gen) double() float64 {
	for {
		f := math.Float64frombits(g.r.Uint64())
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f
		}
	}
}

// textRune returns a random rune for a string: ASCII, specials, BMP,
// astral.
func (g *gen) textRune() rune {
	switch g.n(10) {
	case 0:
		return rune(g.n(0x20)) // control
	case 1:
		return []rune{'"', '\\', '/', 0x7f, 0x2028, 0x2029, 0xfeff, 0xfffd}[g.n(8)]
	case 2:
		return rune(0x80 + g.n(0x780))
	case 3:
		r := rune(0x800 + g.n(0xf800))
		if r >= 0xd800 && r < 0xe000 {
			r = 'x'
		}
		return r
	case 4:
		return rune(0x10000 + g.n(0x100000))
	default:
		return rune('a' + g.n(26))
	}
}

// jsonString appends a random JSON string, with escapes of every kind.
func (g *gen) jsonString(b []byte, maxLen int) []byte {
	b = append(b, '"')
	n := g.n(maxLen + 1)
	for range n {
		r := g.textRune()
		switch {
		case r < 0x20 || r == '"' || r == '\\':
			switch r {
			case '\n':
				b = append(b, `\n`...)
			case '"':
				b = append(b, `\"`...)
			case '\\':
				b = append(b, `\\`...)
			default:
				b = append(b, `\u00`...)
				b = append(b, hexDigits[r>>4], hexDigits[r&0xf])
			}
		case g.n(6) == 0 && r < 0x10000:
			b = append(b, `\u`...)
			b = append(b, []byte(strconv.FormatInt(int64(0x10000+r), 16))[1:]...)
		case g.n(6) == 0 && r >= 0x10000:
			// A surrogate pair, in lowercase or uppercase hex.
			r -= 0x10000
			pair := strconv.FormatInt(int64(0xd800+(r>>10)), 16) + `\u` + strconv.FormatInt(int64(0xdc00+(r&0x3ff)), 16)
			if g.n(2) == 0 {
				pair = strings.ToUpper(pair)
				pair = strings.Replace(pair, `\U`, `\u`, 1)
			}
			b = append(b, `\u`...)
			b = append(b, pair...)
		case r == '/' && g.n(2) == 0:
			b = append(b, `\/`...)
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return append(b, '"')
}

// jsonKey appends a key: usually a fresh identifier, sometimes an array
// index or a duplicate, which JavaScript reorders or merges.
func (g *gen) jsonKey(b []byte, i int, used *[]string) []byte {
	var k string
	switch g.n(12) {
	case 0:
		k = strconv.Itoa(g.n(20))
		g.reorder = true
	case 1:
		if len(*used) > 0 {
			k = (*used)[g.n(len(*used))]
			g.reorder = true
			break
		}
		fallthrough
	default:
		k = "k" + strconv.Itoa(i) + string(rune('a'+g.n(26)))
		if g.n(4) == 0 {
			k += "é✓"
		}
	}
	*used = append(*used, k)
	return strconv.AppendQuote(b, k) // ASCII-safe for these keys
}

func (g *gen) space(b []byte) []byte {
	if g.n(10) == 0 {
		return append(b, " \n\t\r"[g.n(4)])
	}
	return b
}

// jsonValue appends a random JSON value at most depth levels deep.
func (g *gen) jsonValue(b []byte, depth int) []byte {
	b = g.space(b)
	k := g.n(10)
	if depth <= 0 && k >= 6 {
		k = g.n(6)
	}
	switch k {
	case 0, 1:
		b = g.jsonNumber(b)
	case 2, 3:
		b = g.jsonString(b, 12+20*g.n(2))
	case 4:
		b = append(b, []string{"true", "false", "null"}[g.n(3)]...)
	case 5:
		if g.natts > 0 {
			b = append(b, `{"_placeholder":true,"num":`...)
			b = strconv.AppendInt(b, int64(g.n(g.natts)), 10)
			b = append(b, '}')
		} else {
			b = g.jsonNumber(b)
		}
	case 6, 7:
		b = append(b, '[')
		for i := range g.n(5) + g.n(2)*g.n(20) {
			if i > 0 {
				b = append(b, ',')
			}
			b = g.jsonValue(b, depth-1)
		}
		b = append(g.space(b), ']')
	default:
		b = append(b, '{')
		var used []string
		for i := range g.n(5) + g.n(2)*g.n(18) {
			if i > 0 {
				b = append(b, ',')
			}
			b = g.jsonKey(g.space(b), i, &used)
			b = append(g.space(b), ':')
			b = g.jsonValue(b, depth-1)
		}
		b = append(g.space(b), '}')
	}
	return g.space(b)
}

// mpUint appends v in a random format that holds it (not always the
// smallest).
func (g *gen) mpUint(b []byte, v uint64) []byte {
	for {
		switch g.n(5) {
		case 0:
			if v < 0x80 {
				return append(b, byte(v))
			}
		case 1:
			if v <= math.MaxUint8 {
				return append(b, 0xcc, byte(v))
			}
		case 2:
			if v <= math.MaxUint16 {
				return binary.BigEndian.AppendUint16(append(b, 0xcd), uint16(v))
			}
		case 3:
			if v <= math.MaxUint32 {
				return binary.BigEndian.AppendUint32(append(b, 0xce), uint32(v))
			}
		default:
			return binary.BigEndian.AppendUint64(append(b, 0xcf), v)
		}
	}
}

// mpInt appends the negative v in a random format that holds it.
func (g *gen) mpInt(b []byte, v int64) []byte {
	for {
		switch g.n(5) {
		case 0:
			if v >= -32 {
				return append(b, byte(v))
			}
		case 1:
			if v >= math.MinInt8 {
				return append(b, 0xd0, byte(v))
			}
		case 2:
			if v >= math.MinInt16 {
				return binary.BigEndian.AppendUint16(append(b, 0xd1), uint16(v))
			}
		case 3:
			if v >= math.MinInt32 {
				return binary.BigEndian.AppendUint32(append(b, 0xd2), uint32(v))
			}
		default:
			return binary.BigEndian.AppendUint64(append(b, 0xd3), uint64(v))
		}
	}
}

// mpHeader appends the header of a str (kind 's'), bin ('b'), array ('a') or
// map ('m') of n, in a random format that holds n.
func (g *gen) mpHeader(b []byte, kind byte, n int) []byte {
	for {
		switch g.n(4) {
		case 0:
			switch kind {
			case 's':
				if n < 32 {
					return append(b, 0xa0|byte(n))
				}
			case 'a':
				if n < 16 {
					return append(b, 0x90|byte(n))
				}
			case 'm':
				if n < 16 {
					return append(b, 0x80|byte(n))
				}
			}
		case 1:
			if n <= math.MaxUint8 {
				switch kind {
				case 's':
					return append(b, 0xd9, byte(n))
				case 'b':
					return append(b, 0xc4, byte(n))
				}
			}
		case 2:
			if n <= math.MaxUint16 {
				c := map[byte]byte{'s': 0xda, 'b': 0xc5, 'a': 0xdc, 'm': 0xde}[kind]
				return binary.BigEndian.AppendUint16(append(b, c), uint16(n))
			}
		default:
			c := map[byte]byte{'s': 0xdb, 'b': 0xc6, 'a': 0xdd, 'm': 0xdf}[kind]
			return binary.BigEndian.AppendUint32(append(b, c), uint32(n))
		}
	}
}

// mpText returns random str bytes, sometimes ill-formed UTF-8.
func (g *gen) mpText(maxLen int) []byte {
	var s []byte
	for range g.n(maxLen + 1) {
		if g.n(25) == 0 {
			bad := [][]byte{{0xff}, {0xc0, 0x80}, {0xe2, 0x82}, {0xed, 0xa0, 0x80}, {0xf0, 0x80}, {0xf4, 0x90, 0x80, 0x80},
				{0xf0, 0x9f, 0x98}, {0x80}, {0xe0, 0x9f, 0x80}, {0xc2}, {0xf5}}
			s = append(s, bad[g.n(len(bad))]...)
			continue
		}
		s = utf8.AppendRune(s, g.textRune())
	}
	return s
}

func (g *gen) mpBytes(maxLen int) []byte {
	p := make([]byte, g.n(maxLen+1))
	for i := range p {
		p[i] = byte(g.r.Uint32())
	}
	return p
}

// mpExt appends a random extension value: timestamps of every size and
// range, notepack.io's old types, and others.
func (g *gen) mpExt(b []byte) []byte {
	switch g.n(8) {
	case 0: // timestamp 32
		return binary.BigEndian.AppendUint32(append(b, 0xd6, 0xff), g.r.Uint32())
	case 1: // timestamp 64
		ns := uint64(g.n(1e9))
		if g.n(4) == 0 {
			ns = uint64(g.r.Uint32() >> 2) // beyond a second: invalid, but decoded
		}
		sec := g.r.Uint64() & (1<<34 - 1)
		if g.n(2) == 0 {
			sec = g.r.Uint64N(4e9)
		}
		return binary.BigEndian.AppendUint64(append(b, 0xd7, 0xff), ns<<34|sec)
	case 2: // timestamp 96
		b = binary.BigEndian.AppendUint32(append(b, 0xc7, 12, 0xff), uint32(g.n(1e9)))
		sec := g.r.Int64N(2e13) - 1e13
		if g.n(3) == 0 {
			sec = int64(g.r.Uint64())
		}
		return binary.BigEndian.AppendUint64(b, uint64(sec))
	case 3: // notepack.io 2 date, ms as int64
		ms := g.r.Int64N(2e16) - 1e16
		return binary.BigEndian.AppendUint64(append(b, 0xd7, 0x00), uint64(ms))
	case 4: // ArrayBuffer, undefined
		if g.n(2) == 0 || g.mapValue {
			p := g.mpBytes(20)
			return append(append(b, 0xc7, byte(len(p)), 0), p...)
		}
		return append(b, 0xd4, 0, byte(g.n(256)))
	default:
		typ := byte(g.n(256))
		if g.n(3) == 0 {
			typ = byte(g.n(3)) // 0, 1, 2
		}
		if typ == 0xff {
			typ = 5
		}
		if k := g.n(7); k < 5 { // fixext 1, 2, 4, 8, 16
			p := make([]byte, 1<<k)
			for i := range p {
				p[i] = byte(g.r.Uint32())
			}
			return append(append(b, 0xd4+byte(k), typ), p...)
		}
		p := g.mpBytes(40)
		if g.n(2) == 0 {
			return append(binary.BigEndian.AppendUint16(append(b, 0xc8), uint16(len(p))), append([]byte{typ}, p...)...)
		}
		return append(append(b, 0xc7, byte(len(p)), typ), p...)
	}
}

// mpKey appends a map key. Most are fresh str keys; some are array
// indexes or duplicates (reordered or merged by JavaScript), numbers, and,
// with Notepack, values of any type.
func (g *gen) mpKey(b []byte, i int, used *[]string) []byte {
	switch k := g.n(14); {
	case k == 0:
		g.reorder = true
		return g.mpUint(b, uint64(g.n(10)))
	case k == 1:
		f := float64(g.n(100)) + 0.5
		if g.n(2) == 0 {
			f = -f
		}
		s := string(appendNumberString(nil, f))
		if slices.Contains(*used, s) {
			g.reorder = true
		}
		*used = append(*used, s)
		return appendFloat64(b, f)
	case k == 2 && g.flavor == Notepack:
		g.reorder = true // property names this generator does not predict
		if g.n(3) == 0 {
			return g.mpExt(b)
		}
		return g.mpValue(b, 1)
	case k == 3 && len(*used) > 0:
		u := (*used)[g.n(len(*used))]
		g.reorder = true
		return append(appendStrHeader(b, len(u)), u...)
	}
	s := "k" + strconv.Itoa(i) + string(rune('a'+g.n(26)))
	if g.n(3) == 0 {
		s += string(g.mpText(6))
	}
	if slices.Contains(*used, s) {
		g.reorder = true
	}
	*used = append(*used, s)
	b = g.mpHeader(b, 's', len(s))
	return append(b, s...)
}

// mpValue appends a random MessagePack value at most depth levels deep.
func (g *gen) mpValue(b []byte, depth int) []byte {
	mapValue := g.mapValue
	g.mapValue = false
	k := g.n(13)
	if depth <= 0 && k >= 10 {
		k = g.n(10)
	}
	switch k {
	case 0:
		return append(b, []byte{0xc0, 0xc2, 0xc3}[g.n(3)])
	case 1:
		f := interestingInts[g.n(len(interestingInts))]
		switch {
		case f >= 0 && f < 1<<64:
			return g.mpUint(b, uint64(f))
		case f < 0 && f >= math.MinInt64:
			return g.mpInt(b, int64(f))
		}
		return appendFloat64(b, f)
	case 2:
		if g.n(2) == 0 {
			return g.mpUint(b, g.r.Uint64()>>g.n(64))
		}
		return g.mpInt(b, -int64(g.r.Uint64()>>(1+g.n(63)))-1)
	case 3:
		if g.n(2) == 0 {
			return binary.BigEndian.AppendUint32(append(b, 0xca), g.r.Uint32())
		}
		f := g.double()
		switch g.n(6) {
		case 0:
			f = []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.Copysign(0, -1), 3, -7, 1e21, 5e-324}[g.n(8)]
		case 1:
			f = float64(g.n(2000)-1000) / 8
		}
		return appendFloat64(b, f)
	case 4, 5:
		s := g.mpText(12 + 30*g.n(2))
		return append(g.mpHeader(b, 's', len(s)), s...)
	case 6:
		p := g.mpBytes(20 + 300*g.n(2))
		return append(g.mpHeader(b, 'b', len(p)), p...)
	case 7, 8:
		g.mapValue = mapValue
		b = g.mpExt(b)
		g.mapValue = false
		return b
	case 9:
		return append(b, 0xc0)
	case 10, 11:
		n := g.n(5) + g.n(2)*g.n(20)
		b = g.mpHeader(b, 'a', n)
		for range n {
			b = g.mpValue(b, depth-1)
		}
		return b
	default:
		n := g.n(5) + g.n(2)*g.n(18)
		b = g.mpHeader(b, 'm', n)
		var used []string
		for i := range n {
			b = g.mpKey(b, i, &used)
			g.mapValue = true
			b = g.mpValue(b, depth-1)
		}
		return b
	}
}
