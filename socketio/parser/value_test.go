package parser

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/tether-rt/tether/internal/alloctest"
)

type Inner struct {
	Blob  []byte `json:"blob"`
	Label string `json:"label,omitempty"`
}

type Embedded struct {
	Shared string
	Deep   []byte `json:"deep,omitempty"`
}

type Outer struct {
	Embedded
	Name    string            `json:"name"`
	File    []byte            `json:"file"`
	Ptr     *Inner            `json:"ptr"`
	List    []Inner           `json:"list"`
	Map     map[string][]byte `json:"map"`
	Any     any               `json:"any"`
	Skip    []byte            `json:"-"`
	Count   int               `json:"count,string"`
	When    time.Time         `json:"when"`
	Raw     json.RawMessage   `json:"raw"`
	private []byte
}

type Blob []byte

func TestAppendValueMatchesJSONWithoutBinary(t *testing.T) {
	values := []any{
		nil, "", "a\"b\\c\n\t\x01é\u2028", true, 0, -12, uint64(math.MaxUint64), 1.5, 1e21, 1e-7, float32(0.1), 3.0,
		json.RawMessage(`{"a":[1,2]}`),
		[]int{1, 2}, map[string]int{"b": 2, "a": 1}, map[int]string{2: "b", 10: "a"},
		struct {
			A int    `json:"a"`
			B string `json:"b,omitempty"`
			C *int
		}{A: 1},
		[]any{"x", 1, nil, map[string]any{"k": []any{true}}},
		time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		[3]byte{1, 2, 3},
		Outer{Name: "n", Count: 3, Raw: json.RawMessage(`1`)},
	}
	for _, v := range values {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, att, err := AppendValue(nil, v, nil)
		if err != nil {
			t.Fatalf("AppendValue(%#v): %v", v, err)
		}
		if len(att) != 0 {
			t.Errorf("AppendValue(%#v) made attachments", v)
		}
		if !jsonEqual(t, got, want) {
			t.Errorf("AppendValue(%#v) = %s, want %s", v, got, want)
		}
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("invalid JSON %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

func TestAppendValueBinary(t *testing.T) {
	got, att, err := AppendValue(nil, []byte{1}, nil)
	if err != nil || string(got) != `{"_placeholder":true,"num":0}` || len(att) != 1 {
		t.Fatalf("%s %v %v", got, att, err)
	}
	got, att, err = AppendValue(nil, Blob{7}, att)
	if err != nil || string(got) != `{"_placeholder":true,"num":1}` || len(att) != 2 || att[1][0] != 7 {
		t.Fatalf("%s %v %v", got, att, err)
	}

	v := Outer{
		Embedded: Embedded{Shared: "s", Deep: []byte("deep")},
		Name:     "n",
		File:     []byte("file"),
		Ptr:      &Inner{Blob: []byte("ptr")},
		List:     []Inner{{Blob: []byte("l0"), Label: "x"}, {}},
		Map:      map[string][]byte{"b": []byte("mb"), "a": []byte("ma")},
		Any:      []any{[]byte("any"), map[string]any{"k": []byte("k")}},
		Skip:     []byte("skip"),
		Count:    5,
		When:     time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		Raw:      json.RawMessage(`[1]`),
		private:  []byte("p"),
	}
	got, att, err = AppendValue(nil, v, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Shared":"s","deep":{"_placeholder":true,"num":0},"name":"n","file":{"_placeholder":true,"num":1},` +
		`"ptr":{"blob":{"_placeholder":true,"num":2}},"list":[{"blob":{"_placeholder":true,"num":3},"label":"x"},{"blob":null}],` +
		`"map":{"a":{"_placeholder":true,"num":4},"b":{"_placeholder":true,"num":5}},` +
		`"any":[{"_placeholder":true,"num":6},{"k":{"_placeholder":true,"num":7}}],"count":"5","when":"2024-01-02T03:04:05Z","raw":[1]}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	wantAtt := []string{"deep", "file", "ptr", "l0", "ma", "mb", "any", "k"}
	if len(att) != len(wantAtt) {
		t.Fatalf("attachments = %q", att)
	}
	for i, w := range wantAtt {
		if string(att[i]) != w {
			t.Errorf("attachment %d = %q, want %q", i, att[i], w)
		}
	}

	// Round trip through the wire form and back into the struct.
	p := Packet{Type: Event, Namespace: "/", Data: append(append([]byte(`["e",`), got...), ']'), Attachments: att}
	text := p.AppendText(nil)
	var d Decoder
	d.MaxAttachments = 20
	var dp Packet
	var ok bool
	if dp, ok, err = d.Add(text, false); err != nil || ok {
		t.Fatal(ok, err)
	}
	for _, a := range att {
		if dp, ok, err = d.Add(a, true); err != nil {
			t.Fatal(err)
		}
	}
	if !ok {
		t.Fatal("incomplete")
	}
	inl, err := InlineAttachments(nil, dp.Data, dp.Attachments)
	if err != nil {
		t.Fatal(err)
	}
	args, _ := SplitArray(nil, inl)
	var back Outer
	if err := json.Unmarshal(args[1], &back); err != nil {
		t.Fatal(err)
	}
	v.Skip, v.private = nil, nil
	// An interface field gets the base64 string: only the static type says
	// that it was binary.
	if want := []any{"YW55", map[string]any{"k": "aw=="}}; !reflect.DeepEqual(back.Any, want) {
		t.Fatalf("Any = %#v, want %#v", back.Any, want)
	}
	back.Any, v.Any = nil, nil
	if !reflect.DeepEqual(back, v) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", back, v)
	}
}

func TestAppendValueErrors(t *testing.T) {
	for _, v := range []any{math.NaN(), math.Inf(1), json.RawMessage(`{`), []any{[]byte{1}, make(chan int)}, map[[2]int][]byte{{1, 2}: {1}}} {
		if _, _, err := AppendValue(nil, v, nil); err == nil {
			t.Errorf("AppendValue(%#v) succeeded", v)
		}
	}
}

func TestAppendValueAllocs(t *testing.T) {
	buf := make([]byte, 0, 128)
	att := make([][]byte, 0, 2)
	// Boxed once, as the arguments of Emit(event string, args ...any) are.
	args := []any{"hello", 12.5, []byte{1, 2}, json.RawMessage(`{"a":1}`), 7, true, nil}
	allocs := alloctest.PerRun(100, func() {
		buf, att = buf[:0], att[:0]
		for _, a := range args {
			buf, att, _ = AppendValue(buf, a, att)
		}
	})
	if allocs != 0 {
		t.Errorf("AppendValue allocates %v times", allocs)
	}
}
