package utf8stream

import (
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/tether-rt/tether/internal/fuzzseed"
)

// refValidPrefix reports whether p is valid UTF-8 or a valid UTF-8 string
// cut inside its last encoding, using only the standard library: some
// completion of the last 1–3 bytes must make a single valid rune.
func refValidPrefix(p []byte) bool {
	if utf8.Valid(p) {
		return true
	}
	for k := 1; k <= 3 && k <= len(p); k++ {
		if !utf8.Valid(p[:len(p)-k]) {
			continue
		}
		tail := p[len(p)-k:]
		for n := k + 1; n <= utf8.UTFMax; n++ {
			seq := make([]byte, n)
			copy(seq, tail)
			for i := k; i < n; i++ {
				seq[i] = 0x80
			}
			// Only the byte after the leading one has a range other than
			// 80–BF; try every value for it.
			firsts := []byte{0x80}
			if k == 1 {
				firsts = firsts[:0]
				for c := 0; c < 256; c++ {
					firsts = append(firsts, byte(c))
				}
			}
			for _, c := range firsts {
				seq[k] = c
				if utf8.Valid(seq) && utf8.RuneCount(seq) == 1 {
					return true
				}
			}
		}
	}
	return false
}

// FuzzValidator feeds s to a Validator in chunks whose sizes come from cuts
// (0–255 bytes each, repeating) and checks, after every chunk, that Write's
// verdict is exactly whether what was fed so far can still be valid UTF-8
// (so invalid input fails at the chunk that carries it), and at the end that
// Done agrees with utf8.Valid.
func FuzzValidator(f *testing.F) {
	for _, s := range samples {
		fuzzseed.Add(f, s, []byte{1})
		fuzzseed.Add(f, s, []byte{2, 3, 0})
	}
	fuzzseed.Add(f, []byte("0123456789abcdef\xf0\x9f\x98\x80 mixed with ascii words, then \xe2\x82\xac"), []byte{17, 1, 1, 1, 9, 2})
	fuzzseed.Add(f, []byte("abcdefgh\xed\xa0\x80"), []byte{9, 1})
	fuzzseed.Add(f, []byte("abcdefg\xf4\x8f\xbf\xbf\xf4\x8f"), []byte{8, 3, 2})
	fuzzseed.Add(f, []byte("\xe0\xa0"), []byte{1})
	f.Fuzz(func(t *testing.T, s, cuts []byte) {
		if !slices.ContainsFunc(cuts, func(c byte) bool { return c > 0 }) {
			cuts = append(cuts, 1) // some chunk must make progress
		}
		var v Validator
		ok := true
		fed := 0
		for i := 0; fed < len(s) || i == 0; i++ {
			n := min(int(cuts[i%len(cuts)]), len(s)-fed)
			chunk := s[fed : fed+n]
			fed += n
			got := v.Write(chunk)
			if want := ok && refValidPrefix(s[:fed]); got != want {
				t.Fatalf("%q after %d bytes (chunk %q): Write = %v, want %v", s, fed, chunk, got, want)
			}
			ok = got
		}
		if got, want := ok && v.Done(), utf8.Valid(s); got != want {
			t.Fatalf("%q cut by %v: got %v, want %v", s, cuts, got, want)
		}
		if !ok && v.Write([]byte("a")) {
			t.Fatalf("%q: Write accepted more after failing", s)
		}
		v.Reset()
		if !v.Write([]byte("ok")) || !v.Done() {
			t.Fatal("Validator not usable after Reset")
		}
	})
}
