package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"time"
)

// maxMessage bounds one JSON-RPC message either way.
const maxMessage = 4 << 20

// stdioFloor is the reference for a REST call to a stdio server: each
// POSTed JSON-RPC message is written as one line to one child's stdin, and
// the answer line with the same id is sent back, as the hub multiplexes its
// calls on one child. It decodes each message's id and nothing else.
type stdioFloor struct {
	wmu   sync.Mutex // one line at a time on stdin
	stdin io.Writer

	mu      sync.Mutex
	pending map[string]chan []byte // by the request's id as sent

	exited chan struct{} // closed when the child's stdout ends
}

func newStdioFloor(stdin io.Writer) *stdioFloor {
	return &stdioFloor{stdin: stdin, pending: map[string]chan []byte{}, exited: make(chan struct{})}
}

// envelope is what the floor reads of a message: enough to tell a request
// from a notification and an answer from a request of the server's.
type envelope struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
}

func (f *stdioFloor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST a JSON-RPC message", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxMessage))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var msg envelope
	if err := json.Unmarshal(body, &msg); err != nil {
		http.Error(w, "not a JSON-RPC message: "+err.Error(), http.StatusBadRequest)
		return
	}
	if bytes.IndexByte(body, '\n') >= 0 {
		http.Error(w, "the message must be one line: stdio frames messages by newlines", http.StatusBadRequest)
		return
	}
	if msg.ID == nil { // a notification: nothing comes back
		if err := f.write(body); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	id := string(msg.ID)
	answer := make(chan []byte, 1)
	f.mu.Lock()
	if _, taken := f.pending[id]; taken {
		f.mu.Unlock()
		http.Error(w, "a request with id "+id+" is in flight", http.StatusConflict)
		return
	}
	f.pending[id] = answer
	f.mu.Unlock()
	forget := func() {
		f.mu.Lock()
		delete(f.pending, id)
		f.mu.Unlock()
	}
	if err := f.write(body); err != nil {
		forget()
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	select {
	case b := <-answer:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	case <-r.Context().Done():
		forget()
	case <-f.exited:
		forget()
		http.Error(w, "the stdio server exited", http.StatusBadGateway)
	}
}

// write sends body as one line on the child's stdin.
func (f *stdioFloor) write(body []byte) error {
	line := append(body[:len(body):len(body)], '\n') // one write: a line is not interleaved with another
	f.wmu.Lock()
	defer f.wmu.Unlock()
	if _, err := f.stdin.Write(line); err != nil {
		return fmt.Errorf("writing to the stdio server: %w", err)
	}
	return nil
}

// read hands each answer line on stdout to the request waiting for its id,
// until stdout ends. Anything else (notifications, the server's own
// requests, lines that are not JSON) is dropped.
func (f *stdioFloor) read(stdout io.Reader) {
	defer close(f.exited)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), maxMessage)
	for sc.Scan() {
		var msg envelope
		if json.Unmarshal(sc.Bytes(), &msg) != nil || msg.ID == nil || msg.Method != "" {
			continue
		}
		f.mu.Lock()
		answer := f.pending[string(msg.ID)]
		delete(f.pending, string(msg.ID))
		f.mu.Unlock()
		if answer != nil {
			answer <- bytes.Clone(sc.Bytes()) // the scanner reuses its buffer
		}
	}
}

// runStdio starts argv as the stdio server and serves it on listen until
// SIGINT or SIGTERM, then stops the child.
func runStdio(listen string, argv []string) error {
	f, stop, err := startStdio(argv)
	if err != nil {
		return err
	}
	serveErr := serve(listen, f)
	return errors.Join(serveErr, stop())
}

// startStdio starts argv as the stdio server. stop closes its stdin (an
// MCP stdio server ends at EOF), kills it if it has not ended within 5 s,
// and reaps it.
func startStdio(argv []string) (_ *stdioFloor, stop func() error, _ error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("starting the stdio server: %w", err)
	}
	f := newStdioFloor(stdin)
	go f.read(stdout)
	stop = func() error {
		stdin.Close()
		select {
		case <-f.exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-f.exited
		}
		// Wait after the last read of stdout, as os/exec requires.
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("stdio server: %w", err)
		}
		return nil
	}
	return f, stop, nil
}
