package parser

import (
	"encoding/json"
	"strings"
	"testing"
)

var validCases = []string{
	``, ` `, `1`, `-`, `-0`, `-01`, `01`, `0.`, `0.5`, `1e`, `1e+`, `1E-7`, `1.5e3`, `2.`, `.5`,
	`true`, `tru`, `truex`, `false`, `null`, `nul`, ` null `, "\tnull\r\n", `nullnull`,
	`""`, `"`, `"a\"b"`, `"\u00e9"`, `"\u00g9"`, `"\u12"`, `"\x"`, `"\/\b\f\n\r\t\\"`, "\"a\x01\"", "\"\xff\xfe\"",
	`[]`, `[ ]`, `[`, `]`, `[1,]`, `[,1]`, `[1 2]`, `[1,2]`, `[[[]]]`, `[[]`, `[]]`, `[1true]`,
	`{}`, `{ }`, `{"a":1}`, `{"a" : 1 , "b":[2,{"c":null}]}`, `{"a"}`, `{"a":}`, `{a:1}`, `{"a":1,}`, `{,"a":1}`,
	`{"a":1}}`, `{"a":1]`, `[1}`, `{"a":1 "b":2}`, `["m",{"t":1,"s":2,"p":"xxxx"}]`, `1 2`, `{} {}`,
}

// TestValidJSON checks validJSON against json.Valid on hand-picked texts
// and on nesting around encoding/json's depth limit.
func TestValidJSON(t *testing.T) {
	cases := validCases
	for _, d := range []int{maxDepth - 1, maxDepth, maxDepth + 1} {
		cases = append(cases, strings.Repeat("[", d)+strings.Repeat("]", d))
		cases = append(cases, strings.Repeat(`{"a":`, d)+"1"+strings.Repeat("}", d))
	}
	for _, c := range cases {
		if got, want := validJSON([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("validJSON(%.40q) = %v, json.Valid %v", c, got, want)
		}
	}
}

// TestValidSplitArray checks that validSplitArray validates as validJSON
// and splits as SplitArray.
func TestValidSplitArray(t *testing.T) {
	cases := append(validCases, `[1,"a",{"b":[2,3]},[4, 5] , null ]`, ` [ "x" ] `, `[[],{}]`, `[1,2]x`, `[1,[2,]]`, `[1,{"a":}]`)
	for _, c := range cases {
		checkSplit(t, []byte(c))
	}
}

// checkSplit checks validSplitArray on b against validJSON and
// SplitArray: the same verdict, the same elements after those already in
// the slice, nothing added when b is not valid.
func checkSplit(t *testing.T, b []byte) {
	t.Helper()
	before := []json.RawMessage{json.RawMessage(`"kept"`)}
	args := before
	ok := validSplitArray(b, &args)
	if ok != validJSON(b) {
		t.Fatalf("validSplitArray(%.60q) = %v, validJSON %v", b, ok, !ok)
	}
	var want []json.RawMessage
	if i := skipSpace(b, 0); ok && i < len(b) && b[i] == '[' {
		var err error
		if want, err = SplitArray(nil, b); err != nil {
			t.Fatal(err)
		}
	}
	if len(args) != 1+len(want) || string(args[0]) != `"kept"` {
		t.Fatalf("validSplitArray(%.60q): %q, want \"kept\" and %q", b, args, want)
	}
	for i, w := range want {
		if a := args[1+i]; string(a) != string(w) || cap(a) != len(a) {
			t.Fatalf("validSplitArray(%.60q): element %d %q (cap %d), SplitArray %q", b, i, a, cap(a), w)
		}
	}
}

// FuzzValidJSON checks that validJSON accepts exactly what json.Valid
// accepts, and that validSplitArray agrees with validJSON and SplitArray.
func FuzzValidJSON(f *testing.F) {
	for _, c := range validCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkSplit(t, b)
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid %v", b, got, want)
		}
	})
}

func BenchmarkValidJSON(b *testing.B) {
	p := []byte(`["chat",{"t":1765000000000000000,"m":true,"s":123456,"w":3,"k":7,"room":"load-0","p":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},{"room":"load-0","from":"AbCdEfGhIjKlMnOpQrSt","user":""}]`)
	b.Run("validJSON", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		for b.Loop() {
			if !validJSON(p) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("json.Valid", func(b *testing.B) {
		b.SetBytes(int64(len(p)))
		for b.Loop() {
			if !json.Valid(p) {
				b.Fatal("invalid")
			}
		}
	})
}
