package engineio

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"io"
	"strconv"
	"strings"
	"sync"
)

// compressionThreshold is the smallest polling response that is
// compressed, as in Node (httpCompression.threshold).
const compressionThreshold = 1024

// resetWriter is a pooled compressor.
type resetWriter interface {
	io.WriteCloser
	Reset(io.Writer)
}

var (
	gzipWriters = sync.Pool{New: func() any {
		w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
		return w
	}}
	zlibWriters = sync.Pool{New: func() any {
		w, _ := zlib.NewWriterLevel(nil, flate.BestSpeed)
		return w
	}}
)

// compress compresses body with enc ("gzip", or "deflate": the zlib
// format, as Node's createDeflate writes it).
func compress(enc string, body []byte) ([]byte, error) {
	pool := &zlibWriters
	if enc == "gzip" {
		pool = &gzipWriters
	}
	zw := pool.Get().(resetWriter)
	defer pool.Put(zw)
	var buf bytes.Buffer
	buf.Grow(len(body)/3 + 64)
	zw.Reset(&buf)
	if _, err := zw.Write(body); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
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
