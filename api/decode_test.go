package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// FuzzCallBody checks decodeCall on arbitrary bodies: it never panics, every
// rejection is a 400 that says something, and an accepted call has a name
// and a JSON object for arguments.
func FuzzCallBody(f *testing.F) {
	for _, seed := range []string{
		``, ` `, `null`, `[]`, `"x"`, `7`, `{}`,
		`{"id":"call_1","type":"function","function":{"name":"example__echo","arguments":{"message":"hi"}}}`,
		`{"type":"function","function":{"name":"example__echo","arguments":"{\"message\":\"hi\"}"}}`,
		`{"function":{"name":"example.echo"}}`,
		`{"function":{"name":"a","arguments":null}}`,
		`{"function":{"name":"a","arguments":""}}`,
		`{"function":{"name":"a","arguments":"  null "}}`,
		`{"function":{"name":"a","arguments":[1]}}`,
		`{"function":{"name":"a","arguments":"[1]"}}`,
		`{"function":{"name":"a","arguments":"{\"a\":"}}`,
		`{"function":{"name":"a","arguments":{}}}}`,
		`{"function":{"name":"a"}}]`,
		`{"function":{"name":"a"}}{"function":{"name":"b"}}`,
		`{"function":{"name":5}}`,
		`{"function":"a"}`,
		`{"function":null}`,
		`{"type":"tool","function":{"name":"a"}}`,
		`{"id":1,"function":{"name":"a"}}`,
		`{"FUNCTION":{"NAME":"a","ARGUMENTS":{"x":1}}}`,
		`{"function":{"name":"\u0000","arguments":"{\"\\ud800\":1}"}}`,
		`{"function":{"name":"a","arguments":` + strings.Repeat("[", 200) + `}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, args, err := decodeCall(bytes.NewReader(body), int64(len(body)))
		if err != nil {
			if !errors.Is(err, errBadRequest) || statusOf(err) != http.StatusBadRequest {
				t.Fatalf("rejection %q maps to %d, want 400", err, statusOf(err))
			}
			if len(err.Error()) <= len(errBadRequest.Error())+2 {
				t.Fatalf("rejection %q does not say what was wrong", err)
			}
			return
		}
		if req.Function.Name == "" || len(req.Function.Name) > maxNameBytes {
			t.Fatalf("accepted name %q", req.Function.Name)
		}
		if req.Type != "" && req.Type != "function" {
			t.Fatalf("accepted type %q", req.Type)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(args, &obj); err != nil || obj == nil {
			t.Fatalf("accepted arguments %q are not a JSON object: %v", args, err)
		}
	})
}

// TestDecodeCallLimit checks the size-limit error: 413, and it says the
// limit.
func TestDecodeCallLimit(t *testing.T) {
	body := http.MaxBytesReader(nil, io.NopCloser(strings.NewReader(strings.Repeat(" ", 100))), 10)
	_, _, err := decodeCall(body, -1)
	if statusOf(err) != http.StatusRequestEntityTooLarge || !strings.Contains(err.Error(), "the limit is 10 bytes") {
		t.Fatalf("err %v (status %d), want 413 naming the limit", err, statusOf(err))
	}
}

// FuzzCallBodyFast checks that the call body's fast decoding, whenever it
// takes a body, decodes it exactly as encoding/json does.
func FuzzCallBodyFast(f *testing.F) {
	for _, seed := range []string{
		`{}`,
		`{"id":"call_1","type":"function","function":{"name":"example__echo","arguments":{"message":"hi"}}}`,
		`{"function":{"name":"a","arguments":"{\"a\":1}"}}`,
		`{"function":{"name":"a","arguments":null}}`,
		`{"function":{"name":"a\u00e9\n","arguments":[1, 2]}}`,
		`{"function":{"name":"a"},"function":{"arguments":{}}}`,
		`{"ID":"x","Function":{"Name":"a"}}`,
		`{"id":null,"function":{"name":"a"}}`,
		`{"id":7}`,
		`{"function":{"name":"a","extra":1}}`,
		` { "function" : { "name" : "a" , "arguments" : { } } } `,
		`{"\u0069d":"escaped key"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		raw = bytes.TrimSpace(raw)
		if !json.Valid(raw) || len(raw) == 0 || raw[0] != '{' {
			return // decodeObject never offers such bodies
		}
		var fast callBody
		if !fast.decodeFast(raw) {
			return
		}
		var slow callBody
		if err := json.Unmarshal(raw, &slow); err != nil {
			t.Fatalf("fast decoding took %s, which encoding/json rejects: %v", raw, err)
		}
		if fast.ID != slow.ID || fast.Type != slow.Type || (fast.Function == nil) != (slow.Function == nil) {
			t.Fatalf("%s: fast %+v, encoding/json %+v", raw, fast, slow)
		}
		if fast.Function != nil && (fast.Function.Name != slow.Function.Name || !bytes.Equal(fast.Function.Arguments, slow.Function.Arguments)) {
			t.Fatalf("%s: fast function %+v (%s), encoding/json %+v (%s)", raw, *fast.Function, fast.Function.Arguments, *slow.Function, slow.Function.Arguments)
		}
	})
}
