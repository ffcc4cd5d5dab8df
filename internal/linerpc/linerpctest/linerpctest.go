// Package linerpctest is the fake stdio JSON-RPC server the tests of the
// repository's plain line clients share (internal/linerpc, proxy-floor's
// stdio mode): the test binary itself, started again as a child by
// Command, whose TestMain calls Main first.
package linerpctest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Env, set to "1", makes the test binary the fake server (see Main).
const Env = "LINERPCTEST_CHILD"

// LongLine is how long the "long" answer's line is: over linerpc.MaxLine
// (4 MB), which this package cannot import, as linerpc's own tests use it.
const LongLine = 4<<20 + 64

// Main serves as the fake server and exits when the process was started
// as one; otherwise it returns at once.
func Main() {
	if os.Getenv(Env) != "1" {
		return
	}
	serve()
	os.Exit(0)
}

// ChildEnv is what the fake server's environment adds to the test's: Env,
// and no 1 s sleep of the race detector at its exit.
var ChildEnv = []string{Env + "=1", "GORACE=atexit_sleep_ms=0"}

// Command starts the test binary as the fake server, its stderr on ours.
func Command() *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), ChildEnv...)
	cmd.Stderr = os.Stderr
	return cmd
}

// Request is a request line with id (its JSON text) and method.
func Request(id, method string) string {
	return `{"jsonrpc":"2.0","id":` + id + `,"method":"` + method + `"}`
}

// AnswerOf is the fake server's answer line to a request with id.
func AnswerOf(id string) string {
	return `{"jsonrpc":"2.0","id":` + id + `,"result":{"answers":` + id + `}}`
}

// WaitWaiting waits, at most 10 s, until n requests of p wait for their
// answers (a *linerpc.Pipe: this package cannot import linerpc, whose own
// tests use it).
func WaitWaiting(t testing.TB, p interface{ Waiting() int }, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		got := p.Waiting()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests waiting, want %d", got, n)
		}
	}
}

// serve does what each request's method says; any other method it
// answers (AnswerOf):
//
//	echo     answers, after a line that is not JSON, a notification and a
//	         request of its own with the same id (none of which is the answer)
//	hold     answers only at the next release
//	release  answers the held requests, the last first, then itself
//	thrice   answers three times
//	flood    answers, then writes 4,000 notifications
//	long     answers with a line of LongLine bytes, then writes 4,000
//	         notifications
//	exit     exits with status 3
//	quit     exits with status 0
//	stay     answers, and stays up after its stdin ends
//	deaf     answers, and never reads its stdin again
//	mute     closes its stdout and stays up
func serve() {
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	answer := func(id string) { out.WriteString(AnswerOf(id) + "\n") }
	notifications := func() {
		for range 4000 {
			out.WriteString(`{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"` + strings.Repeat("x", 64) + `"}}` + "\n")
		}
	}
	var held []string
	stay := false
	for in.Scan() {
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		if json.Unmarshal(in.Bytes(), &msg) != nil || msg.ID == nil {
			continue
		}
		id := string(msg.ID)
		switch msg.Method {
		case "echo":
			fmt.Fprintf(out, "not json\n"+`{"jsonrpc":"2.0","method":"notifications/message"}`+"\n"+
				`{"jsonrpc":"2.0","id":%s,"method":"roots/list"}`+"\n", id)
			answer(id)
		case "hold":
			held = append(held, id)
		case "release":
			for i := len(held) - 1; i >= 0; i-- {
				answer(held[i])
			}
			held = nil
			answer(id)
		case "thrice":
			answer(id)
			answer(id)
			answer(id)
		case "flood":
			answer(id)
			notifications()
		case "long": // and more after it than a pipe holds
			prefix := `{"jsonrpc":"2.0","id":` + id + `,"result":"`
			out.WriteString(prefix + strings.Repeat("x", LongLine-len(prefix)-2) + `"}` + "\n")
			notifications()
		case "exit":
			out.Flush()
			os.Exit(3)
		case "quit":
			out.Flush()
			os.Exit(0)
		case "stay":
			stay = true
			answer(id)
		case "deaf":
			answer(id)
			out.Flush()
			time.Sleep(time.Hour)
		case "mute":
			out.Flush()
			os.Stdout.Close()
			time.Sleep(time.Hour)
		default:
			answer(id)
		}
		out.Flush()
	}
	if stay {
		time.Sleep(time.Hour)
	}
}
