package nodejson

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestObject(t *testing.T) {
	var o Object
	if got := string(o.End()); got != "{}" {
		t.Errorf("empty object = %s, want {}", got)
	}
	o = Object{B: []byte("x=")}
	o.String("uid", `a"b`)
	o.StringIf("requestId", "")
	o.StringIf("nsp", "/chat")
	o.Raw("type", []byte("3"))
	o.Raw("data", nil)
	if got, want := string(o.End()), `x={"uid":"a\"b","nsp":"/chat","type":3,"data":null}`; got != want {
		t.Errorf("object = %s, want %s", got, want)
	}
}

func TestArrays(t *testing.T) {
	if got, want := string(AppendStrings(nil, []string{"a", "\u2028"})), `["a","\u2028"]`; got != want {
		t.Errorf("AppendStrings = %s, want %s", got, want)
	}
	if got := string(AppendStrings(nil, nil)); got != "[]" {
		t.Errorf("AppendStrings(nil) = %s, want []", got)
	}
	got := Array([]json.RawMessage{json.RawMessage(`1`), nil, json.RawMessage(`{"a":[]}`)})
	if want := `[1,null,{"a":[]}]`; string(got) != want {
		t.Errorf("Array = %s, want %s", got, want)
	}
	if !json.Valid(got) {
		t.Errorf("Array = %s: not JSON", got)
	}
}

func TestText(t *testing.T) {
	for raw, want := range map[string]string{
		`"room"`:     "room",
		` "a\u00e9"`: "aé",
		`123`:        "123",
		`1.5`:        "1.5",
		`true`:       "true",
		`null`:       "",
		``:           "",
		`"bad`:       `"bad`,
	} {
		if got := Text([]byte(raw)); got != want {
			t.Errorf("Text(%q) = %q, want %q", raw, got, want)
		}
	}
	got := Texts([]json.RawMessage{json.RawMessage(`"a"`), json.RawMessage(`7`)})
	if !slices.Equal(got, []string{"a", "7"}) {
		t.Errorf("Texts = %q", got)
	}
	if Texts(nil) != nil {
		t.Error("Texts(nil) is not nil")
	}
}
