package engineio

import (
	"bufio"
	"encoding/binary"
	"hash"
	"hash/adler32"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
)

// compressionThreshold is the smallest polling response that is
// compressed, as in Node (httpCompression.threshold).
const compressionThreshold = 1024

// compressBufferSize is how much of a response a compressor gathers before
// it compresses it as independent DEFLATE blocks.
const compressBufferSize = 32 << 10

// A compressor streams a polling response through gzip, or deflate (the
// zlib format, as Node's createDeflate writes it). The DEFLATE encoder
// keeps nothing between writes (klauspost/compress's stateless mode), so a
// compressor's only state is its input buffer: a response that its client
// reads slowly holds 32 KiB here, not the half megabyte or so of a full
// encoder's tables and window.
type compressor struct {
	in  *bufio.Writer // gathers input into blocks for out
	out io.WriteCloser
	gz  *gzip.Writer // out, for gzip
	zw  zlibWriter   // out, for deflate
}

var compressors = sync.Pool{New: func() any {
	c := &compressor{}
	c.gz, _ = gzip.NewWriterLevel(nil, gzip.StatelessCompression)
	c.in = bufio.NewWriterSize(nil, compressBufferSize)
	return c
}}

// newCompressor returns a pooled compressor of enc ("gzip" or "deflate")
// writing to w.
func newCompressor(enc string, w io.Writer) *compressor {
	c := compressors.Get().(*compressor)
	if enc == "gzip" {
		c.gz.Reset(w)
		c.out = c.gz
	} else {
		c.zw.reset(w)
		c.out = &c.zw
	}
	c.in.Reset(c.out)
	return c
}

// Write compresses p.
func (c *compressor) Write(p []byte) (int, error) { return c.in.Write(p) }

// Close ends the compressed stream and puts the compressor back in the
// pool; it must not be used after.
func (c *compressor) Close() error {
	err := c.in.Flush()
	if cerr := c.out.Close(); err == nil {
		err = cerr
	}
	c.in.Reset(nil)
	c.gz.Reset(nil)
	c.zw.reset(nil)
	c.out = nil
	compressors.Put(c)
	return err
}

// zlibWriter writes the zlib format (RFC 1950) around stateless DEFLATE.
type zlibWriter struct {
	w       io.Writer
	deflate io.WriteCloser
	sum     hash.Hash32
	started bool
}

func (z *zlibWriter) reset(w io.Writer) {
	z.w, z.started = w, false
	z.deflate = nil
	if w != nil {
		z.deflate = flate.NewStatelessWriter(w)
		if z.sum == nil {
			z.sum = adler32.New()
		}
		z.sum.Reset()
	}
}

// header writes the zlib header once: DEFLATE with a 32 KiB window, the
// fastest level.
func (z *zlibWriter) header() error {
	if z.started {
		return nil
	}
	z.started = true
	_, err := z.w.Write([]byte{0x78, 0x01})
	return err
}

func (z *zlibWriter) Write(p []byte) (int, error) {
	if err := z.header(); err != nil {
		return 0, err
	}
	z.sum.Write(p)
	return z.deflate.Write(p)
}

// Close ends the DEFLATE stream and writes the Adler-32 checksum.
func (z *zlibWriter) Close() error {
	if err := z.header(); err != nil {
		return err
	}
	if err := z.deflate.Close(); err != nil {
		return err
	}
	_, err := z.w.Write(binary.BigEndian.AppendUint32(nil, z.sum.Sum32()))
	return err
}

// acceptedEncoding picks gzip, else deflate, if the Accept-Encoding
// headers allow it (a q of 0 refuses; "*" stands for both).
func acceptedEncoding(values []string) string {
	q := map[string]float64{}
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			w := 1.0
			for _, p := range strings.Split(params, ";") {
				if k, val, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "q") {
					if f, err := strconv.ParseFloat(val, 64); err == nil {
						w = f
					}
				}
			}
			q[strings.ToLower(strings.TrimSpace(name))] = w
		}
	}
	best, bestQ := "", 0.0
	for _, enc := range []string{"gzip", "deflate"} {
		w, ok := q[enc]
		if !ok {
			w, ok = q["*"]
		}
		if ok && w > bestQ {
			best, bestQ = enc, w
		}
	}
	return best
}
