package inflate

import (
	"encoding/binary"
	"io"
	"strconv"
)

// windowSize is the DEFLATE window: the farthest a distance reaches back.
const windowSize = 1 << 15

// inputSize is the size of a Decoder's input buffer.
const inputSize = 4 << 10

// A CorruptError reports invalid DEFLATE data.
type CorruptError struct {
	Offset int64  // input bytes read when the problem was found
	Reason string // what is wrong
}

func (e *CorruptError) Error() string {
	return "corrupt deflate data at input byte " + strconv.FormatInt(e.Offset, 10) + ": " + e.Reason
}

// step is where decoding resumes.
type step uint8

const (
	stepHeader  step = iota // at a block header
	stepStored              // inside a stored block
	stepHuffman             // inside a Huffman-coded block
	stepCopy                // inside a Huffman-coded block, in a back-reference
)

// Decoder decodes one DEFLATE stream at a time. The zero value is ready for
// [Decoder.Reset]. A Decoder is about 42 KiB; pool it.
//
// Invariants: hist[rd:wr] is output not yet read; histLen is how much of
// hist this stream may refer back to (its output and its dictionary);
// bits holds nbits unread input bits in its low bits, and above them only
// zeros or the unread bytes in[pos:end], so that a lookup with fewer bits
// than a code needs sees zeros or real input, never stale data. Until the
// window wraps (histLen == wr), hist[wr:] is not history, so the fast
// loop's word copies may write up to 7 bytes past their end; after it,
// hist[wr:] is the oldest history and must not be touched.
type Decoder struct {
	src io.Reader
	err error // what Read returns once hist is drained

	bits   uint64
	nbits  uint
	pos    int
	end    int
	read   int64 // input bytes taken from src
	srcEOF bool

	step              step
	final             bool // the current block is the last
	fixed             bool // the current block uses the fixed codes
	stored            int  // bytes left in a stored block
	copyLen, copyDist int

	// litMin and distMin are the fewest bits a symbol of the block's codes
	// needs before it is looked up: the shortest code, and for literals
	// and lengths at least the end of block's code, as compress/flate
	// does (this matters only when input ends).
	litMin, distMin uint

	rd, wr  int
	histLen int

	litTable  [litTableSize]uint32
	distTable [distTableSize]uint32
	in        [inputSize]byte
	hist      [windowSize]byte
}

// Reset starts decoding a new stream read from src; dict, when not empty,
// is history that the stream's first distances may refer to (its last 32
// KiB are kept).
func (d *Decoder) Reset(src io.Reader, dict []byte) {
	d.src = src
	d.err = nil
	d.bits, d.nbits = 0, 0
	d.pos, d.end, d.read = 0, 0, 0
	d.srcEOF = false
	d.step, d.final, d.fixed, d.stored = stepHeader, false, false, 0
	d.copyLen, d.copyDist = 0, 0
	if len(dict) > windowSize {
		dict = dict[len(dict)-windowSize:]
	}
	n := copy(d.hist[:], dict)
	d.histLen = n
	if n == windowSize {
		n = 0
	}
	d.rd, d.wr = n, n
}

// Read reads decoded output. It returns [io.EOF] after a final block and
// [io.ErrUnexpectedEOF] when src ends before one, each once everything
// decoded has been read; a [*CorruptError] for invalid data; and src's
// own errors other than io.EOF.
func (d *Decoder) Read(p []byte) (int, error) {
	for {
		if d.rd < d.wr {
			n := copy(p, d.hist[d.rd:d.wr])
			d.rd += n
			if d.rd == d.wr && d.err != nil {
				return n, d.err
			}
			return n, nil
		}
		if d.err != nil {
			return 0, d.err
		}
		if d.wr == windowSize {
			d.rd, d.wr = 0, 0
		}
		d.decode()
	}
}

// corrupt ends the stream with a CorruptError.
func (d *Decoder) corrupt(reason string) {
	d.err = &CorruptError{Offset: d.read - int64(d.end-d.pos) - int64(d.nbits/8), Reason: reason}
}

// fill reads more input from src into in, once in is used up. It reports
// false, having set d.err, at the end of src or on an error.
func (d *Decoder) fill() bool {
	if d.srcEOF {
		d.err = io.ErrUnexpectedEOF
		return false
	}
	for {
		n, err := d.src.Read(d.in[:])
		d.pos, d.end = 0, n
		d.read += int64(n)
		if err == io.EOF {
			d.srcEOF = true
		} else if err != nil {
			d.err = err
			return false
		}
		if n > 0 {
			return true
		}
		if d.srcEOF {
			d.err = io.ErrUnexpectedEOF
			return false
		}
	}
}

// refill moves buffered input bytes into the bit buffer, as many as fit.
func (d *Decoder) refill() {
	if d.end-d.pos >= 8 {
		d.bits |= binary.LittleEndian.Uint64(d.in[d.pos:]) << d.nbits
		d.pos += int(63-d.nbits) >> 3
		d.nbits |= 56
		return
	}
	for d.nbits <= 56 && d.pos < d.end {
		d.bits |= uint64(d.in[d.pos]) << d.nbits
		d.pos++
		d.nbits += 8
	}
}

// need makes sure the bit buffer holds at least n (≤ 56) bits, reading src
// when it must. It reports false, having set d.err, when it cannot.
func (d *Decoder) need(n uint) bool {
	for d.nbits < n {
		if d.pos == d.end && !d.fill() {
			return false
		}
		d.refill()
	}
	return true
}

// getBits consumes n bits, which must be in the bit buffer.
func (d *Decoder) getBits(n uint) uint {
	v := uint(d.bits & (1<<n - 1))
	d.bits >>= n
	d.nbits -= n
	return v
}

// lookup returns the entry of the next symbol of table, reading src only
// when the bits it has do not finish the symbol. It returns 0, having set
// d.err, at the end of input, for bits no code has, or on a read error.
func (d *Decoder) lookup(table []uint32, rootBits uint, minBits uint) uint32 {
	if !d.need(minBits) {
		return 0
	}
	for {
		if d.nbits < 56 && d.pos < d.end {
			d.refill()
		}
		e := table[d.bits&(1<<rootBits-1)]
		if e&entryLink != 0 {
			e = table[entryValue(e)+uint(d.bits>>rootBits)&(1<<entryExtra(e)-1)]
		}
		n := entryLen(e)
		if n == 0 {
			d.corrupt("invalid Huffman code")
			return 0
		}
		if n <= d.nbits {
			d.bits >>= n
			d.nbits -= n
			return e
		}
		if !d.fill() {
			return 0
		}
	}
}

// decode decodes until the window is full (hist[wr:] is empty) or the
// stream ends.
func (d *Decoder) decode() {
	for d.err == nil && d.wr < windowSize {
		switch d.step {
		case stepHeader:
			if d.final {
				d.err = io.EOF
				return
			}
			d.header()
		case stepStored:
			d.copyStored()
		case stepHuffman:
			d.huffman()
		case stepCopy:
			d.copyBack()
		}
	}
}

// header reads a block header, and a dynamic block's code tables.
func (d *Decoder) header() {
	if !d.need(3) {
		return
	}
	d.final = d.getBits(1) == 1
	switch d.getBits(2) {
	case 0:
		d.getBits(d.nbits % 8)
		if !d.need(32) {
			return
		}
		n := d.getBits(16)
		if n != ^d.getBits(16)&0xffff {
			d.corrupt("stored block length does not match its complement")
			return
		}
		d.stored = int(n)
		d.step = stepStored
	case 1:
		d.fixed = true
		d.litMin, d.distMin = fixedLitMin, fixedDistMin
		d.step = stepHuffman
	case 2:
		if d.dynamic() {
			d.fixed = false
			d.step = stepHuffman
		}
	default:
		d.corrupt("reserved block type")
	}
}

// codeOrder is the order of the code length code's lengths.
var codeOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// dynamic reads the code tables of a dynamic block.
func (d *Decoder) dynamic() bool {
	if !d.need(14) {
		return false
	}
	nlit := int(d.getBits(5)) + 257
	if nlit > maxLitCodes {
		d.corrupt("too many literal/length codes")
		return false
	}
	ndist := int(d.getBits(5)) + 1
	if ndist > maxDistCodes {
		d.corrupt("too many distance codes")
		return false
	}
	nclen := int(d.getBits(4)) + 4
	var clens [19]uint8
	for i := range nclen {
		if !d.need(3) {
			return false
		}
		clens[codeOrder[i]] = uint8(d.getBits(3))
	}
	var clenTable [1 << clenRootBits]uint32
	clenMin, ok := build(clenTable[:], clenRootBits, clens[:], clenTemplate[:])
	if !ok {
		d.corrupt("invalid code length code")
		return false
	}

	var lengths [maxLitCodes + maxDistCodes]uint8
	n := nlit + ndist
	for i := 0; i < n; {
		e := d.lookup(clenTable[:], clenRootBits, clenMin)
		if e == 0 {
			return false
		}
		sym := entryValue(e)
		if sym < 16 {
			lengths[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var b uint8
		switch sym {
		case 16:
			if i == 0 {
				d.corrupt("repeat code with no length to repeat")
				return false
			}
			if !d.need(2) {
				return false
			}
			rep, b = 3+int(d.getBits(2)), lengths[i-1]
		case 17:
			if !d.need(3) {
				return false
			}
			rep = 3 + int(d.getBits(3))
		default:
			if !d.need(7) {
				return false
			}
			rep = 11 + int(d.getBits(7))
		}
		if i+rep > n {
			d.corrupt("code lengths repeat past their end")
			return false
		}
		for range rep {
			lengths[i] = b
			i++
		}
	}
	litMin, ok := build(d.litTable[:], litRootBits, lengths[:nlit], litTemplate[:])
	if !ok {
		d.corrupt("invalid literal/length code")
		return false
	}
	distMin, ok := build(d.distTable[:], distRootBits, lengths[nlit:n], distTemplate[:])
	if !ok {
		d.corrupt("invalid distance code")
		return false
	}
	// Like compress/flate, read at least the end of block's bits before
	// looking up a literal or length (this only matters at the end of
	// input).
	d.litMin, d.distMin = max(litMin, uint(lengths[256])), distMin
	return true
}

// clenTemplate gives the code length code's symbols their values.
var clenTemplate = func() (t [19]uint32) {
	for s := range t {
		t[s] = uint32(s) << 16
	}
	return t
}()

// The fixed codes' tables (RFC 1951, 3.2.6), shared by every Decoder.
var (
	fixedLitTable  [litTableSize]uint32
	fixedDistTable [distTableSize]uint32
	fixedLitMin    uint
	fixedDistMin   uint
)

func init() {
	var l [numLitLen]uint8
	for s := range l {
		switch {
		case s < 144:
			l[s] = 8
		case s < 256:
			l[s] = 9
		case s < 280:
			l[s] = 7
		default:
			l[s] = 8
		}
	}
	var ok1, ok2 bool
	fixedLitMin, ok1 = build(fixedLitTable[:], litRootBits, l[:], litTemplate[:])
	var dl [numDist]uint8
	for s := range dl {
		dl[s] = 5
	}
	fixedDistMin, ok2 = build(fixedDistTable[:], distRootBits, dl[:], distTemplate[:])
	if !ok1 || !ok2 {
		panic("inflate: the fixed codes do not build")
	}
}

// tables returns the current block's lookup tables.
func (d *Decoder) tables() (lit *[litTableSize]uint32, dist *[distTableSize]uint32) {
	if d.fixed {
		return &fixedLitTable, &fixedDistTable
	}
	return &d.litTable, &d.distTable
}

// huffman decodes symbols of a Huffman-coded block until the block ends,
// the window fills, or the stream fails.
func (d *Decoder) huffman() {
	litT, distT := d.tables()
	hist := &d.hist
	in := &d.in
	// The fast loop: while at least 8 input bytes are buffered (a refill is
	// one load, after which a symbol pair's 48 bits are there) and a
	// longest copy, with 8 bytes to spare, fits in the window. Anything
	// unusual (the end of the block, a bad code) goes to the careful path
	// below, unconsumed.
	bitsBuf, nbits := d.bits, d.nbits
	pos, end := d.pos, d.end
	wr, wr0, histLen0 := d.wr, d.wr, d.histLen
	noWrap := histLen0 == wr0 // the history is hist[:wr]
fast:
	for end-pos >= 8 && wr <= windowSize-258-8 {
		bitsBuf |= binary.LittleEndian.Uint64(in[pos:]) << nbits
		pos += int(63-nbits) >> 3
		nbits |= 56

		e := litT[bitsBuf&(1<<litRootBits-1)]
		if e&entryLink != 0 {
			e = litT[entryValue(e)+uint(bitsBuf>>litRootBits)&(1<<entryExtra(e)-1)]
		}
		// Literals, as many as the bits allow without a refill.
		for e&entryLiteral != 0 {
			n := entryLen(e)
			bitsBuf >>= n
			nbits -= n
			hist[wr] = byte(e >> 16)
			wr++
			if nbits < maxCodeLen || wr > windowSize-258-8 {
				continue fast
			}
			e = litT[bitsBuf&(1<<litRootBits-1)]
			if e&entryLink != 0 {
				e = litT[entryValue(e)+uint(bitsBuf>>litRootBits)&(1<<entryExtra(e)-1)]
			}
		}
		if e&entryLength == 0 {
			break
		}
		if nbits < 48 {
			continue // refill for the whole length and distance
		}
		n := entryLen(e)
		bitsBuf >>= n
		nbits -= n
		x := entryExtra(e)
		length := int(entryValue(e)) + int(bitsBuf&(1<<x-1))
		bitsBuf >>= x
		nbits -= x

		e = distT[bitsBuf&(1<<distRootBits-1)]
		if e&entryLink != 0 {
			e = distT[entryValue(e)+uint(bitsBuf>>distRootBits)&(1<<entryExtra(e)-1)]
		}
		if entryLen(e) == 0 || e&entryBad != 0 {
			// The careful path fails it, after the length read here.
			d.bits, d.nbits, d.pos = bitsBuf, nbits, pos
			d.addWritten(wr)
			d.lengthThenDist(length)
			return
		}
		n = entryLen(e)
		bitsBuf >>= n
		nbits -= n
		x = entryExtra(e)
		dist := int(entryValue(e)) + int(bitsBuf&(1<<x-1))
		bitsBuf >>= x
		nbits -= x
		if dist > min(windowSize, histLen0+wr-wr0) {
			d.bits, d.nbits, d.pos = bitsBuf, nbits, pos
			d.addWritten(wr)
			d.corrupt("distance too far back")
			return
		}
		if src := wr - dist; dist >= 8 && src >= 0 && noWrap {
			// Eight bytes at a time, past the end by up to 7 (the loop
			// keeps that much room, and while the window has not wrapped
			// nothing after wr is history): each word read was written
			// before.
			for i := 0; i < length; i += 8 {
				binary.LittleEndian.PutUint64(hist[wr+i:], binary.LittleEndian.Uint64(hist[src+i:]))
			}
			wr += length
			continue
		}
		wr = copyBack(hist, wr, dist, length)
	}
	d.bits, d.nbits, d.pos = bitsBuf, nbits, pos
	d.addWritten(wr)

	// The careful path: one symbol at a time, reading src only when the
	// buffered input does not finish a symbol.
	for d.err == nil && d.wr < windowSize {
		e := d.lookup(litT[:], litRootBits, d.litMin)
		switch {
		case e == 0:
			return
		case e&entryLiteral != 0:
			d.hist[d.wr] = byte(e >> 16)
			d.addWritten(d.wr + 1)
		case e&entryEnd != 0:
			d.step = stepHeader
			return
		case e&entryBad != 0:
			d.corrupt("invalid literal/length symbol")
			return
		default:
			x := entryExtra(e)
			if !d.need(x) {
				return
			}
			d.lengthThenDist(int(entryValue(e)) + int(d.getBits(x)))
			return
		}
		if d.end-d.pos >= 8 && d.wr <= windowSize-258-8 {
			return // back to the fast loop
		}
	}
}

// lengthThenDist reads the distance that follows a length of length, then
// copies.
func (d *Decoder) lengthThenDist(length int) {
	_, distT := d.tables()
	e := d.lookup(distT[:], distRootBits, d.distMin)
	if e == 0 {
		return
	}
	if e&entryBad != 0 {
		d.corrupt("invalid distance symbol")
		return
	}
	x := entryExtra(e)
	if !d.need(x) {
		return
	}
	dist := int(entryValue(e)) + int(d.getBits(x))
	if dist > d.histLen {
		d.corrupt("distance too far back")
		return
	}
	d.copyLen, d.copyDist = length, dist
	d.step = stepCopy
}

// addWritten records that hist[d.wr:wr] has been written.
func (d *Decoder) addWritten(wr int) {
	d.histLen = min(windowSize, d.histLen+wr-d.wr)
	d.wr = wr
}

// copyBack continues a back-reference.
func (d *Decoder) copyBack() {
	n := min(d.copyLen, windowSize-d.wr)
	wr := copyBack(&d.hist, d.wr, d.copyDist, n)
	d.addWritten(wr)
	d.copyLen -= n
	if d.copyLen == 0 {
		d.step = stepHuffman
	}
}

// copyBack copies length bytes from dist back in the ring buffer hist to
// hist[wr:], which must have room, and returns the new write position.
func copyBack(hist *[windowSize]byte, wr, dist, length int) int {
	src := wr - dist
	end := wr + length
	if src < 0 {
		// The source starts in the previous round of the ring.
		src += windowSize
		n := copy(hist[wr:end], hist[src:])
		wr += n
		src = 0
		if wr == end {
			return end
		}
	}
	if wr-src >= end-wr {
		copy(hist[wr:end], hist[src:])
		return end
	}
	// Overlapping: the copied pattern repeats; each copy doubles it.
	for wr < end {
		wr += copy(hist[wr:end], hist[src:wr])
	}
	return end
}

// copyStored continues a stored block: first bytes left in the bit buffer,
// then the input buffer, then src.
func (d *Decoder) copyStored() {
	for d.stored > 0 && d.wr < windowSize {
		if d.nbits >= 8 {
			d.hist[d.wr] = byte(d.getBits(8))
			d.addWritten(d.wr + 1)
			d.stored--
			continue
		}
		d.bits = 0 // it held in[pos], which is now copied directly
		if d.pos == d.end && !d.fill() {
			return
		}
		n := copy(d.hist[d.wr:min(windowSize, d.wr+d.stored)], d.in[d.pos:d.end])
		d.pos += n
		d.stored -= n
		d.addWritten(d.wr + n)
	}
	if d.stored == 0 {
		d.step = stepHeader
	}
}
