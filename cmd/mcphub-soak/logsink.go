package main

import (
	"bytes"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// logSink receives the hub's output (beside the tail procset keeps for
// messages): it counts the lines logged at ERROR and WARN level, and keeps
// the first ERROR lines (the hub logs with log/slog's text handler:
// "level=ERROR").
type logSink struct {
	mu      sync.Mutex
	partial []byte
	errors  int
	warns   int
	first   []string
	byMsg   map[string]int // ERROR lines by their msg
}

func newLogSink() *logSink { return &logSink{} }

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.line(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	if len(l.partial) > 64<<10 { // a runaway line: judge what we have
		l.line(string(l.partial))
		l.partial = l.partial[:0]
	}
	return len(p), nil
}

func (l *logSink) line(s string) {
	switch {
	case strings.Contains(s, "level=ERROR"):
		l.errors++
		if len(l.first) < 5 {
			l.first = append(l.first, truncate(s, 600))
		}
		if l.byMsg == nil {
			l.byMsg = map[string]int{}
		}
		l.byMsg[logMsg(s)]++
	case strings.Contains(s, "level=WARN"):
		l.warns++
	}
}

// logMsg is the msg of a log/slog text line, with the server it names.
func logMsg(line string) string {
	msg := ""
	if _, rest, ok := strings.Cut(line, " msg="); ok {
		if strings.HasPrefix(rest, `"`) {
			if v, err := strconv.QuotedPrefix(rest); err == nil {
				msg, _ = strconv.Unquote(v)
			}
		} else {
			msg, _, _ = strings.Cut(rest, " ")
		}
	}
	if _, rest, ok := strings.Cut(line, " server="); ok {
		srv, _, _ := strings.Cut(rest, " ")
		msg += " (server=" + srv + ")"
	}
	return msg
}

// counts returns the ERROR and WARN lines seen, the first ERROR lines, and
// the ERROR lines counted by message.
func (l *logSink) counts() (errs, warns int, first []string, byMsg map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.errors, l.warns, slices.Clone(l.first), maps.Clone(l.byMsg)
}

// truncate cuts s to at most n bytes for a message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
