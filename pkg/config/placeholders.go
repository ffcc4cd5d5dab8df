package config

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
	"unicode/utf8"
)

// Placeholder syntax, resolved in every string value of a config except
// names (of servers, group members, tokens and the tokens of auth rules)
// and map keys:
//
//	${VAR}                 environment variable VAR; unset is an error
//	${VAR:-default}        VAR, or default when VAR is unset or empty
//	${env:VAR}             same as ${VAR} (also ${env:VAR:-default})
//	${cmd: shell command}  trimmed stdout of `sh -c 'shell command'`, run in
//	                       the config file's directory, 10s limit; a non-zero
//	                       exit is an error
//	$$                     a literal "$" (so "$${HOME}" stays "${HOME}")
//
// A "$" not followed by "{" or "$" is kept as is. Defaults may hold
// placeholders themselves and are resolved only when used, so
// ${TOKEN:-${cmd: op read ...}} runs the command only when TOKEN is unset.
// Resolved values are never expanded again. The command text is passed to
// sh verbatim, and its braces must balance (use a script otherwise).

const (
	// commandTimeout bounds each ${cmd:...} placeholder.
	commandTimeout = 10 * time.Second
	// maxNesting bounds placeholders inside defaults, so hostile input cannot
	// recurse deeply.
	maxNesting = 8
)

// expander resolves placeholders for one config file.
type expander struct {
	ctx       context.Context
	lookupEnv func(string) (string, bool)
	// run is nil when commands are disabled.
	run func(ctx context.Context, dir, command string) (string, error)
	// dir is the directory commands run in.
	dir string
	// record, when set, is told every secret a placeholder produced (see
	// secretVar).
	record func(string)
}

// expand resolves every placeholder in s. Its errors name the placeholder as
// written, never a resolved value.
func (e *expander) expand(s string) (string, error) {
	return e.expandDepth(s, 0)
}

func (e *expander) expandDepth(s string, depth int) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 || i == len(s)-1 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			s = s[i+2:]
		case '{':
			end := closingBrace(s, i+2)
			if end < 0 {
				return "", fmt.Errorf("%s: unterminated placeholder (missing \"}\")", quotePlaceholder(s[i:]))
			}
			v, err := e.resolve(s[i+2:end], s[i:end+1], depth)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			s = s[end+1:]
		default:
			b.WriteByte('$')
			s = s[i+1:]
		}
	}
}

// closingBrace returns the index of the "}" closing a placeholder whose body
// starts at start, counting nested braces and skipping "$$"; -1 if none.
func closingBrace(s string, start int) int {
	depth := 1
	for j := start; j < len(s); j++ {
		switch s[j] {
		case '$':
			if j+1 < len(s) && s[j+1] == '$' {
				j++
			}
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return -1
}

// resolve returns the value of one placeholder; raw is its text as written.
func (e *expander) resolve(body, raw string, depth int) (string, error) {
	ph := quotePlaceholder(raw)
	if cmd, ok := strings.CutPrefix(body, "cmd:"); ok {
		return e.command(strings.TrimSpace(cmd), ph)
	}
	name, _ := strings.CutPrefix(body, "env:")
	name, def, hasDef := strings.Cut(name, ":-")
	if !validVarName(name) {
		if kind, _, ok := strings.Cut(name, ":"); ok {
			return "", fmt.Errorf("%s: unknown placeholder kind %q (want env or cmd)", ph, kind)
		}
		return "", fmt.Errorf("%s: invalid environment variable name %q", ph, name)
	}
	v, ok := e.lookupEnv(name)
	switch {
	case ok && (v != "" || !hasDef):
		if secretVar(name) {
			e.secret(v)
		}
		return v, nil
	case !hasDef:
		return "", fmt.Errorf("%s: environment variable %s is not set", ph, name)
	case depth >= maxNesting:
		return "", fmt.Errorf("%s: placeholders nested too deeply", ph)
	}
	return e.expandDepth(def, depth+1)
}

func (e *expander) command(cmd, ph string) (string, error) {
	if cmd == "" {
		return "", fmt.Errorf("%s: empty command", ph)
	}
	if e.run == nil {
		return "", fmt.Errorf("%s: command placeholders are disabled", ph)
	}
	ctx, cancel := context.WithTimeout(e.ctx, commandTimeout)
	defer cancel()
	out, err := e.run(ctx, e.dir, cmd)
	if err != nil {
		return "", fmt.Errorf("%s: command failed: %w", ph, err)
	}
	e.secret(out) // commands are how secrets are fetched: pass, op, vault
	return out, nil
}

// secret records a secret a placeholder produced.
func (e *expander) secret(v string) {
	if e.record != nil && v != "" {
		e.record(v)
	}
}

// secretVar reports whether an environment variable's name says it holds a
// secret (API_KEY, GITHUB_TOKEN, DB_PASSWORD…). Only such values, and
// command outputs, are hidden wherever they show: hiding every placeholder
// value would also blank hosts, ports and log levels in every log line.
func secretVar(name string) bool {
	n := strings.ToUpper(name)
	for _, w := range []string{"KEY", "TOKEN", "SECRET", "PASS", "PWD", "CRED", "AUTH", "PRIVATE", "COOKIE", "SESSION", "SIGNATURE", "CERT"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// runShell is the default command runner: `sh -c command` in dir, with the
// process environment and no stdin. It returns trimmed stdout; a failure
// carries the first line of stderr (stdout may be the secret, stderr is the
// diagnosis).
func runShell(ctx context.Context, dir, command string) (string, error) {
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// A background child holding the pipes open must not hang the load.
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return "", fmt.Errorf("%w (%w)", ctxErr, err)
		}
		if msg := firstLine(stderr.String(), 200); msg != "" {
			return "", fmt.Errorf("%w: %s", err, msg)
		}
		return "", err
	}
	return strings.TrimSpace(stdout.String()), nil
}

func firstLine(s string, limit int) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return truncate(s, limit)
}

// quotePlaceholder shortens a placeholder for messages.
func quotePlaceholder(raw string) string { return truncate(raw, 80) }

// truncate cuts s to at most limit bytes on a rune boundary.
func truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	for limit > 0 && !utf8.RuneStart(s[limit]) {
		limit--
	}
	return s[:limit] + "…"
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}
