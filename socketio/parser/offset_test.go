package parser

import (
	"encoding/json"
	"testing"
)

func TestAppendOffset(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{`["news",{"a":1}]`, `["news",{"a":1},"o1"]`},
		{`["news"]`, `["news","o1"]`},
		{`[ "news" ] `, `[ "news" ,"o1"] `},
		{`[]`, `["o1"]`},
		{`[ ]`, `[ "o1"]`},
		{``, `["o1"]`},
		{`{}`, `["o1"]`},
	} {
		data := json.RawMessage(tc.data)
		got := AppendOffset(data, "o1")
		if string(got) != tc.want {
			t.Errorf("AppendOffset(%s) = %s, want %s", tc.data, got, tc.want)
		}
		if string(data) != tc.data {
			t.Errorf("AppendOffset modified its input: %s", data)
		}
		if !json.Valid(got) {
			t.Errorf("AppendOffset(%s) = %s: not JSON", tc.data, got)
		}
	}
}
