package httpbody

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

func TestRead(t *testing.T) {
	body := strings.Repeat("x", 3000)
	for _, tc := range []struct {
		name string
		r    io.Reader
		size int64
	}{
		{"announced", strings.NewReader(body), 3000},
		{"unknown", strings.NewReader(body), -1},
		{"announced short", strings.NewReader(body), 100},
		{"announced long", strings.NewReader(body), 5000},
		{"announced past prealloc", strings.NewReader(body), 1 << 30},
		{"one byte at a time", iotest.OneByteReader(strings.NewReader(body)), 3000},
		{"data with EOF", iotest.DataErrReader(strings.NewReader(body)), 3000},
	} {
		got, err := Read(tc.r, tc.size)
		if err != nil || string(got) != body {
			t.Errorf("%s: %d bytes, %v; want all %d", tc.name, len(got), err, len(body))
		}
	}
	broken := errors.New("broken")
	got, err := Read(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(broken)), 10)
	if !errors.Is(err, broken) || string(got) != "abc" {
		t.Errorf("a failing reader: %q, %v; want what came and the error", got, err)
	}
}

// A request body read with its announced length takes one allocation, and
// a body over http.MaxBytesReader's limit still fails as it would have.
func TestReadRequest(t *testing.T) {
	body := strings.Repeat("y", 2000)
	raw := []byte(body)
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	if n := testing.AllocsPerRun(50, func() {
		b, err := Read(bytes.NewReader(raw), req.ContentLength)
		if err != nil || len(b) != len(body) {
			t.Fatal(err)
		}
	}); n > 2 { // the bytes.Reader and the buffer
		t.Errorf("%v allocations, want 2", n)
	}
	rec := httptest.NewRecorder()
	_, err := Read(http.MaxBytesReader(rec, io.NopCloser(strings.NewReader(body)), 1000), req.ContentLength)
	var tooBig *http.MaxBytesError
	if !errors.As(err, &tooBig) {
		t.Errorf("over the limit: %v, want *http.MaxBytesError", err)
	}
}

// A body announced big and sent small costs what was sent, not what was
// announced: a slow client on many connections must not make the hub hold
// memory it was never sent.
func TestReadAnnouncedBigSentSmall(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 10 {
		if b, err := Read(strings.NewReader("abc"), 1<<20); err != nil || string(b) != "abc" {
			t.Fatalf("%q, %v", b, err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / 10; per > 128<<10 {
		t.Errorf("%d bytes allocated for a read of 3 bytes announced as 1 MB; want at most 128 KB", per)
	}
}
