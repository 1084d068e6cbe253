package conformance

import (
	"errors"
	"fmt"
)

// inflateWindow decodes a raw DEFLATE stream (RFC 1951) that follows dict
// and fails on any back-reference farther than window bytes: this is how
// the peer checks that the testee kept to a negotiated max_window_bits,
// which Go's decompressor (always 32 KiB) cannot tell. It is a plain,
// bit-at-a-time decoder written from the RFC, used only for the cases that
// negotiate a window under 15 bits.
//
// Decoding stops after a final block, or at the end of the input when it
// falls on a block boundary.
func inflateWindow(in, dict []byte, window int) ([]byte, error) {
	s := &inflateStream{in: in, out: append([]byte(nil), dict...), window: window}
	start := len(dict)
	for {
		last, err := s.bits(1)
		if err != nil {
			return nil, err
		}
		typ, err := s.bits(2)
		if err != nil {
			return nil, err
		}
		switch typ {
		case 0:
			err = s.stored()
		case 1:
			err = s.codes(&fixedLit, &fixedDist)
		case 2:
			err = s.dynamic()
		default:
			err = errors.New("deflate: block type 3")
		}
		if err != nil {
			return nil, err
		}
		if last == 1 || (s.pos == len(s.in) && s.nbits == 0) {
			return s.out[start:], nil
		}
	}
}

var errTruncated = errors.New("deflate: compressed data is truncated")

type inflateStream struct {
	in     []byte
	pos    int
	buf    uint32
	nbits  uint
	out    []byte
	window int
}

func (s *inflateStream) bits(n uint) (uint32, error) {
	for s.nbits < n {
		if s.pos == len(s.in) {
			return 0, errTruncated
		}
		s.buf |= uint32(s.in[s.pos]) << s.nbits
		s.pos++
		s.nbits += 8
	}
	v := s.buf & (1<<n - 1)
	s.buf >>= n
	s.nbits -= n
	return v, nil
}

func (s *inflateStream) stored() error {
	s.buf, s.nbits = 0, 0 // to the byte boundary
	if s.pos+4 > len(s.in) {
		return errTruncated
	}
	n := int(s.in[s.pos]) | int(s.in[s.pos+1])<<8
	if nn := int(s.in[s.pos+2]) | int(s.in[s.pos+3])<<8; n != ^nn&0xffff {
		return errors.New("deflate: stored block length does not match its complement")
	}
	s.pos += 4
	if s.pos+n > len(s.in) {
		return errTruncated
	}
	s.out = append(s.out, s.in[s.pos:s.pos+n]...)
	s.pos += n
	return nil
}

// huffman is a canonical Huffman code: how many codes have each length and
// the symbols in code order.
type huffman struct {
	count  [16]int
	symbol []int
}

// build makes h from code lengths. It returns the number of unused codes:
// 0 for a complete code, more for an incomplete one, and an error when the
// lengths over-subscribe the code space.
func (h *huffman) build(lengths []int) (int, error) {
	h.count = [16]int{}
	for _, l := range lengths {
		h.count[l]++
	}
	h.symbol = make([]int, len(lengths))
	if h.count[0] == len(lengths) {
		return 0, nil
	}
	left := 1
	for l := 1; l < 16; l++ {
		left <<= 1
		left -= h.count[l]
		if left < 0 {
			return 0, errors.New("deflate: over-subscribed Huffman code")
		}
	}
	var offs [16]int
	for l := 1; l < 15; l++ {
		offs[l+1] = offs[l] + h.count[l]
	}
	for sym, l := range lengths {
		if l != 0 {
			h.symbol[offs[l]] = sym
			offs[l]++
		}
	}
	return left, nil
}

func (s *inflateStream) decode(h *huffman) (int, error) {
	code, first, index := 0, 0, 0
	for l := 1; l < 16; l++ {
		b, err := s.bits(1)
		if err != nil {
			return 0, err
		}
		code |= int(b)
		count := h.count[l]
		if code-count < first {
			return h.symbol[index+code-first], nil
		}
		index += count
		first += count
		first <<= 1
		code <<= 1
	}
	return 0, errors.New("deflate: invalid Huffman code")
}

var (
	lengthBase  = [29]int{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lengthExtra = [29]uint{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase    = [30]int{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra   = [30]uint{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}

	fixedLit, fixedDist huffman
)

func init() {
	var l [288]int
	for i := range l {
		switch {
		case i < 144:
			l[i] = 8
		case i < 256:
			l[i] = 9
		case i < 280:
			l[i] = 7
		default:
			l[i] = 8
		}
	}
	fixedLit.build(l[:])
	var d [30]int
	for i := range d {
		d[i] = 5
	}
	fixedDist.build(d[:])
}

// codes decodes the symbols of a compressed block.
func (s *inflateStream) codes(lit, dist *huffman) error {
	for {
		sym, err := s.decode(lit)
		if err != nil {
			return err
		}
		switch {
		case sym < 256:
			s.out = append(s.out, byte(sym))
			continue
		case sym == 256:
			return nil
		}
		sym -= 257
		if sym >= 29 {
			return errors.New("deflate: invalid length symbol")
		}
		extra, err := s.bits(lengthExtra[sym])
		if err != nil {
			return err
		}
		n := lengthBase[sym] + int(extra)
		dsym, err := s.decode(dist)
		if err != nil {
			return err
		}
		if dsym >= 30 {
			return errors.New("deflate: invalid distance symbol")
		}
		if extra, err = s.bits(distExtra[dsym]); err != nil {
			return err
		}
		d := distBase[dsym] + int(extra)
		if d > s.window {
			return fmt.Errorf("deflate: distance %d is beyond the negotiated window of %d bytes", d, s.window)
		}
		if d > len(s.out) {
			return fmt.Errorf("deflate: distance %d reaches before the start of the data (%d bytes)", d, len(s.out))
		}
		for range n {
			s.out = append(s.out, s.out[len(s.out)-d])
		}
	}
}

var codeLengthOrder = [19]int{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

func (s *inflateStream) dynamic() error {
	v, err := s.bits(14)
	if err != nil {
		return err
	}
	nlen, ndist, ncode := int(v&31)+257, int(v>>5&31)+1, int(v>>10)+4
	if nlen > 286 || ndist > 30 {
		return errors.New("deflate: bad code counts")
	}
	var lengths [320]int
	for i := range ncode {
		b, err := s.bits(3)
		if err != nil {
			return err
		}
		lengths[codeLengthOrder[i]] = int(b)
	}
	var lencode, distcode huffman
	if left, err := lencode.build(lengths[:19]); err != nil || left != 0 {
		return errors.New("deflate: incomplete code length code")
	}
	for i := 0; i < nlen+ndist; {
		sym, err := s.decode(&lencode)
		if err != nil {
			return err
		}
		if sym < 16 {
			lengths[i] = sym
			i++
			continue
		}
		l, rep := 0, uint32(0)
		switch sym {
		case 16:
			if i == 0 {
				return errors.New("deflate: repeat with no first length")
			}
			l = lengths[i-1]
			rep, err = s.bits(2)
			rep += 3
		case 17:
			rep, err = s.bits(3)
			rep += 3
		default:
			rep, err = s.bits(7)
			rep += 11
		}
		if err != nil {
			return err
		}
		if i+int(rep) > nlen+ndist {
			return errors.New("deflate: too many code lengths")
		}
		for range rep {
			lengths[i] = l
			i++
		}
	}
	if lengths[256] == 0 {
		return errors.New("deflate: no end-of-block code")
	}
	if left, err := lencode.build(lengths[:nlen]); err != nil || (left > 0 && nlen-lencode.count[0] != 1) {
		return errors.New("deflate: bad literal/length code")
	}
	if left, err := distcode.build(lengths[nlen : nlen+ndist]); err != nil || (left > 0 && ndist-distcode.count[0] != 1) {
		return errors.New("deflate: bad distance code")
	}
	return s.codes(&lencode, &distcode)
}
