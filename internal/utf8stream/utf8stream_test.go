package utf8stream

import (
	"testing"
	"unicode/utf8"
)

var samples = [][]byte{
	[]byte("hello"),
	[]byte("κόσμε"),
	[]byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"),
	[]byte("\xf4\x90\x80\x80"),
	[]byte("\xf0\x9f\x98\x80 smile"),
	[]byte("\xc0\xaf"),
	[]byte("\xe0\x80\xaf"),
	[]byte("\xed\x9f\xbf\xee\x80\x80"),
	[]byte("abc\xe2\x82"),
	[]byte("\xff"),
	{},
}

// TestSplitsAgreeWithStdlib feeds each sample split at every pair of points
// and checks the verdict matches utf8.Valid.
func TestSplitsAgreeWithStdlib(t *testing.T) {
	for _, s := range samples {
		want := utf8.Valid(s)
		for i := 0; i <= len(s); i++ {
			for j := i; j <= len(s); j++ {
				var v Validator
				got := v.Write(s[:i]) && v.Write(s[i:j]) && v.Write(s[j:]) && v.Done()
				if got != want {
					t.Fatalf("%q split at %d,%d: got %v, want %v", s, i, j, got, want)
				}
			}
		}
	}
}

// TestFailsFast checks that an invalid byte is reported when it arrives, not
// when the stream ends.
func TestFailsFast(t *testing.T) {
	var v Validator
	if !v.Write([]byte("\xce\xba\xf4")) {
		t.Fatal("valid prefix rejected")
	}
	if v.Write([]byte("\x90")) {
		t.Fatal(`"\xf4\x90" accepted: no code point above U+10FFFF starts so`)
	}
	v.Reset()
	if v.Write([]byte("ab\xed\xa0")) {
		t.Fatal("surrogate prefix accepted")
	}
}
