package tail

import "testing"

func TestBuffer(t *testing.T) {
	tail := New(4)
	if got := tail.String(); got != "(no output)" {
		t.Errorf("empty: %q", got)
	}
	for _, s := range []string{"ab", "cdef", "g"} {
		if n, err := tail.Write([]byte(s)); n != len(s) || err != nil {
			t.Errorf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if got := tail.String(); got != "defg" {
		t.Errorf("tail %q, want %q", got, "defg")
	}
}

func TestLastLine(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "",
		"one line":                  "one line",
		"first\nsecond\n":           "second",
		"first\n  last words  \n\n": "last words",
	} {
		b := New(64)
		b.Write([]byte(in))
		if got := b.LastLine(); got != want {
			t.Errorf("LastLine of %q = %q, want %q", in, got, want)
		}
	}
}
