package engineio

import "testing"

func TestAcceptedEncoding(t *testing.T) {
	for _, tt := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"gzip, deflate, br"}, "gzip"},
		{[]string{"deflate"}, "deflate"},
		{[]string{"br", "deflate;q=0.5"}, "deflate"},
		{[]string{"gzip;q=0.2, deflate;q=0.8"}, "deflate"},
		{[]string{"gzip;q=0"}, ""},
		{[]string{"*"}, "gzip"},
		{[]string{"*;q=0, deflate"}, "deflate"},
		{[]string{"identity"}, ""},
		{[]string{"GZIP"}, "gzip"},
	} {
		if got := acceptedEncoding(tt.in); got != tt.want {
			t.Errorf("acceptedEncoding(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
