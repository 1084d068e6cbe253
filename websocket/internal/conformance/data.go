package conformance

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"unicode/utf8"
)

// dataSource is a payload that compression cases cut messages from, in
// turn, wrapping around at its end. Autobahn uses files (a JSON document, a
// bitmap, a book, an HTML page, a PDF); the suite generates data of the
// same kinds, deterministically, so it ships no files.
type dataSource struct {
	name   string
	binary bool
	data   []byte
	runes  []int // for text: the offset of each character, so cuts fall between characters
}

// next returns the message of n units (bytes, or characters for text)
// that starts at unit pos, and the position after it.
func (s *dataSource) next(pos, n int) ([]byte, int) {
	if s.binary {
		var msg []byte
		for len(msg) < n {
			m := min(n-len(msg), len(s.data)-pos)
			msg = append(msg, s.data[pos:pos+m]...)
			pos = (pos + m) % len(s.data)
		}
		return msg, pos
	}
	var msg []byte
	for left := n; left > 0; {
		m := min(left, len(s.runes)-pos)
		end := len(s.data)
		if pos+m < len(s.runes) {
			end = s.runes[pos+m]
		}
		msg = append(msg, s.data[s.runes[pos]:end]...)
		left -= m
		pos = (pos + m) % len(s.runes)
	}
	return msg, pos
}

func newTextSource(name, data string) *dataSource {
	s := &dataSource{name: name, data: []byte(data)}
	for i := range data {
		s.runes = append(s.runes, i)
	}
	if !utf8.ValidString(data) {
		panic("conformance: text data is not UTF-8")
	}
	return s
}

var testDataOnce = sync.OnceValue(func() []*dataSource {
	return []*dataSource{
		newTextSource("JSON text", jsonData()),
		{name: "a grey-scale bitmap", binary: true, data: bitmapData()},
		{name: "German prose (as binary)", binary: true, data: []byte(proseData())},
		newTextSource("HTML text", htmlData()),
		{name: "PDF-like binary of high entropy", binary: true, data: pdfData()},
	}
})

// testData returns the five sources of section 12, in Autobahn's order
// (json_data1, lena512, gutenberg_faust, html_data1, ooms); section 13
// uses the first.
func testData() []*dataSource { return testDataOnce() }

const sourceSize = 300 << 10

var words = strings.Fields(`der die das und ist nicht ein eine zu mit sich auf für Faust Mephistopheles Gretchen
Wagner Schüler Geist Welt Himmel Erde Nacht Tag Herz Seele Natur Wissen Zauber Glück Müh Sorge Blüte Straße
Größe über schön grün weiß heißt möchte würde hätte fühlen träumen Lüfte Tür Mädchen Brüder Äpfel Öl Übel`)

func proseData() string {
	r := rand.New(rand.NewPCG(12, 3))
	var b strings.Builder
	for b.Len() < sourceSize {
		n := 4 + r.IntN(12)
		for i := range n {
			w := words[r.IntN(len(words))]
			if i == 0 {
				w = strings.ToUpper(w[:1]) + w[1:]
			}
			b.WriteString(w)
			if i < n-1 {
				b.WriteByte(' ')
			}
		}
		b.WriteString([]string{".", "!", "?", ","}[r.IntN(4)])
		if r.IntN(5) == 0 {
			b.WriteString("\r\n\r\n")
		} else {
			b.WriteByte(' ')
		}
	}
	return b.String()
}

func jsonData() string {
	r := rand.New(rand.NewPCG(12, 1))
	cities := []string{"Zürich", "München", "Köln", "Genève", "Malmö", "Kraków", "東京", "São Paulo"}
	tags := []string{"alpha", "beta", "gamma", "delta", "épsilon", "ζήτα"}
	var b strings.Builder
	b.WriteString("[\n")
	for i := 0; b.Len() < sourceSize; i++ {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `  {"id": %d, "guid": "%08x-%04x", "active": %t, "balance": %.2f, "name": "%s %s", "city": "%s",`+"\n"+`   "tags": ["%s", "%s"], "friends": [{"id": %d}, {"id": %d}], "about": "%s"}`,
			i, r.Uint32(), r.IntN(1<<16), r.IntN(2) == 0, r.Float64()*10000,
			words[r.IntN(len(words))], words[r.IntN(len(words))], cities[r.IntN(len(cities))],
			tags[r.IntN(len(tags))], tags[r.IntN(len(tags))], r.IntN(1000), r.IntN(1000),
			words[r.IntN(len(words))]+" "+words[r.IntN(len(words))]+" "+words[r.IntN(len(words))])
	}
	b.WriteString("\n]\n")
	return b.String()
}

func htmlData() string {
	r := rand.New(rand.NewPCG(12, 4))
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html lang=\"de\">\n<head><meta charset=\"utf-8\"><title>Tether – Testseite</title></head>\n<body>\n")
	for i := 0; b.Len() < sourceSize; i++ {
		fmt.Fprintf(&b, "<div class=\"item item-%d\" id=\"n%d\">\n  <h2>%s</h2>\n  <p>", i%7, i, words[r.IntN(len(words))])
		for range 8 + r.IntN(20) {
			w := words[r.IntN(len(words))]
			if r.IntN(6) == 0 {
				fmt.Fprintf(&b, "<a href=\"/wiki/%s?ref=%d\">%s</a> ", w, r.IntN(100), w)
			} else {
				b.WriteString(w + " ")
			}
		}
		b.WriteString("</p>\n  <ul><li>&laquo;eins&raquo;</li><li>zwei &amp; drei</li></ul>\n</div>\n")
	}
	b.WriteString("</body>\n</html>\n")
	return b.String()
}

// bitmapData is a 512×512 8-bit grey-scale picture with a BMP-like
// header: smooth shapes with some noise, as a photograph has.
func bitmapData() []byte {
	r := rand.New(rand.NewPCG(12, 2))
	b := make([]byte, 1078, 1078+512*512)
	copy(b, "BM")
	for i := 54; i < 1078; i += 4 { // grey palette
		g := byte((i - 54) / 4)
		b[i], b[i+1], b[i+2] = g, g, g
	}
	for y := range 512 {
		for x := range 512 {
			v := 128 + 60*math.Sin(float64(x)/23)*math.Cos(float64(y)/31) + 40*math.Sin(float64(x+y)/71)
			v += float64(r.IntN(9) - 4)
			b = append(b, byte(max(0, min(255, v))))
		}
	}
	return b
}

// pdfData is mostly incompressible (like a PDF's compressed streams), with
// some text structure between the streams.
func pdfData() []byte {
	r := rand.New(rand.NewPCG(12, 5))
	b := []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	for i := 1; len(b) < sourceSize; i++ {
		n := 500 + r.IntN(4000)
		b = fmt.Appendf(b, "%d 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n", i, n)
		for range n {
			b = append(b, byte(r.Uint32()))
		}
		b = append(b, "\nendstream\nendobj\n"...)
	}
	return b
}
