package parser

import (
	"encoding/json"
	"testing"
)

func TestAppendEventAndArgs(t *testing.T) {
	data, atts, err := AppendEvent(nil, "up\"load", []any{"a", 1, []byte{1, 2}, map[string]any{"b": []byte{3}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `["up\"load","a",1,{"_placeholder":true,"num":0},{"b":{"_placeholder":true,"num":1}}]`
	if string(data) != want || len(atts) != 2 || atts[0][1] != 2 || atts[1][0] != 3 {
		t.Fatalf("AppendEvent = %s %v, want %s", data, atts, want)
	}
	// Attachments already collected are kept and numbered after.
	data, atts, err = AppendArgs([]byte("x"), []any{[]byte{9}, nil}, [][]byte{{7}})
	if err != nil || string(data) != `x[{"_placeholder":true,"num":1},null]` || len(atts) != 2 || atts[1][0] != 9 {
		t.Fatalf("AppendArgs = %s %v %v", data, atts, err)
	}
	if data, _, err := AppendArgs(nil, nil, nil); err != nil || string(data) != "[]" {
		t.Fatalf("AppendArgs(nil) = %s %v", data, err)
	}
	if _, _, err := AppendEvent(nil, "e", []any{func() {}}, nil); err == nil {
		t.Fatal("AppendEvent encoded a func")
	}
}

func TestEventName(t *testing.T) {
	for raw, want := range map[string]string{`"chat"`: "chat", `"a\u0062"`: "ab", `42`: "42", `""`: "",
		`"été"`: "été", "\"a\xffb\"": "a\ufffdb", `"a\"b"`: `a"b`, `"unterminated`: `"unterminated`} {
		if got := EventName(json.RawMessage(raw)); got != want {
			t.Errorf("EventName(%s) = %q, want %q", raw, got, want)
		}
		if got, want := EventName(json.RawMessage(raw)), eventNameByUnmarshal(json.RawMessage(raw)); got != want {
			t.Errorf("EventName(%s) = %q, json.Unmarshal %q", raw, got, want)
		}
	}
}

// eventNameByUnmarshal is EventName without its fast path.
func eventNameByUnmarshal(first json.RawMessage) string {
	if len(first) > 0 && first[0] == '"' {
		var s string
		if json.Unmarshal(first, &s) == nil {
			return s
		}
	}
	return string(first)
}

func TestConnectStructs(t *testing.T) {
	b, _ := json.Marshal(ConnectErrorData{Message: "no", Data: json.RawMessage(`{"code":401}`)})
	if string(b) != `{"data":{"code":401},"message":"no"}` {
		t.Fatalf("ConnectErrorData = %s", b)
	}
	b, _ = json.Marshal(ConnectErrorData{Message: "no"})
	if string(b) != `{"message":"no"}` {
		t.Fatalf("ConnectErrorData without data = %s", b)
	}
	b, _ = json.Marshal(ConnectData{SID: "s"})
	if string(b) != `{"sid":"s"}` {
		t.Fatalf("ConnectData = %s", b)
	}
	var r RecoveryAuth
	if err := json.Unmarshal([]byte(`{"token":"t","pid":"p","offset":"o"}`), &r); err != nil || r.PID == nil || *r.PID != "p" || r.Offset == nil || *r.Offset != "o" {
		t.Fatalf("RecoveryAuth = %+v %v", r, err)
	}
}
