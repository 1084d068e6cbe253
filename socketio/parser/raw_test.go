package parser

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestAppendValueRawValueRenumbers(t *testing.T) {
	atts := [][]byte{{1, 2, 3}, {4, 5, 6}, {7}}
	// A value taken out of a packet refers to the packet's attachments by
	// their numbers there.
	second := RawValue{JSON: json.RawMessage(`{"b":{"_placeholder":true,"num":2},"c":[{"_placeholder":true,"num":1}]}`), Attachments: atts}
	first := RawValue{JSON: json.RawMessage(`{"_placeholder":true,"num":0}`), Attachments: atts}
	data, got, err := AppendValue([]byte(`[`), []byte{9}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{first, &second, map[string]any{"nested": second}} {
		data = append(data, ',')
		if data, got, err = AppendValue(data, v, got); err != nil {
			t.Fatal(err)
		}
	}
	data = append(data, ']')
	want := `[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1},` +
		`{"b":{"_placeholder":true,"num":2},"c":[{"_placeholder":true,"num":3}]},` +
		`{"nested":{"b":{"_placeholder":true,"num":4},"c":[{"_placeholder":true,"num":5}]}}]`
	if string(data) != want {
		t.Fatalf("got  %s\nwant %s", data, want)
	}
	wantAtts := [][]byte{{9}, {1, 2, 3}, {7}, {4, 5, 6}, {7}, {4, 5, 6}}
	if len(got) != len(wantAtts) {
		t.Fatalf("got %d attachments, want %d", len(got), len(wantAtts))
	}
	for i := range got {
		if !bytes.Equal(got[i], wantAtts[i]) {
			t.Errorf("attachment %d = %v, want %v", i, got[i], wantAtts[i])
		}
	}
}

type rawHolder struct {
	Name string    `json:"name"`
	Data RawValue  `json:"data"`
	Ptr  *RawValue `json:"ptr"`
}

type embedsRaw struct {
	rawHolder
}

func TestAppendValueRawValueInStructs(t *testing.T) {
	atts := [][]byte{{1}, {2}}
	v := embedsRaw{rawHolder{Name: "x", Data: RawValue{JSON: json.RawMessage(`[{"_placeholder":true,"num":1},"s"]`), Attachments: atts}}}
	data, got, err := AppendValue(nil, v, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"x","data":[{"_placeholder":true,"num":0},"s"],"ptr":null}`
	if string(data) != want || len(got) != 1 || !bytes.Equal(got[0], []byte{2}) {
		t.Fatalf("got %s %v, want %s [[2]]", data, got, want)
	}
}

func TestAppendValueRawValueErrors(t *testing.T) {
	for _, v := range []RawValue{
		{JSON: json.RawMessage(`{"_placeholder":true,"num":1}`), Attachments: [][]byte{{1}}},
		{JSON: json.RawMessage(`{"_placeholder":true,"num":0}`)},
		{JSON: json.RawMessage(`{"a":`)},
	} {
		if data, _, err := AppendValue([]byte("["), v, nil); err == nil {
			t.Errorf("AppendValue(%s) = %s, want an error", v.JSON, data)
		}
	}
	data, att, err := AppendValue(nil, RawValue{}, nil)
	if err != nil || string(data) != "null" || len(att) != 0 {
		t.Errorf("zero RawValue: %s %v %v, want null", data, att, err)
	}
}

func TestRawValueJSON(t *testing.T) {
	v := RawValue{JSON: json.RawMessage(`{"file":{"_placeholder":true,"num":0},"n":1}`), Attachments: [][]byte{{0xff, 0}}}
	b, err := json.Marshal(v)
	if err != nil || string(b) != `{"file":"/wA=","n":1}` {
		t.Fatalf("json.Marshal = %s, %v", b, err)
	}
	var dst struct {
		File []byte `json:"file"`
		N    int    `json:"n"`
	}
	if err := v.Decode(&dst); err != nil || !bytes.Equal(dst.File, []byte{0xff, 0}) || dst.N != 1 {
		t.Fatalf("Decode = %+v, %v", dst, err)
	}
	if err := (RawValue{JSON: json.RawMessage(`{"_placeholder":true,"num":3}`)}).Decode(&dst); err == nil {
		t.Fatal("Decode with a missing attachment succeeded")
	}
}
