package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/mcphub/mcphub/api"
	"github.com/mcphub/mcphub/pkg/config"
)

// Exit codes of the subcommands. Scripts branch on them, so they are part
// of the interface: keep them stable and keep the README in step.
const (
	exitOK = 0
	// exitError: the command failed (the hub answered an error, could not
	// be reached, refused the token; an invalid config for config validate).
	exitError = 1
	// exitUsage: bad flags or arguments, including call arguments that are
	// not a JSON object; nothing was sent.
	exitUsage = 2
	// exitPending: the call waits for a person's approval; nothing ran.
	// The approval id is printed.
	exitPending = 3
	// exitToolError: the tool ran and reported an error (isError); what it
	// said is printed.
	exitToolError = 4
)

// envHubURL is the hub's URL when --hub is not given. The token is read
// from config.EnvAPIToken, the variable the server reads too: one
// exported variable serves both sides on a developer's machine.
const envHubURL = "MCPHUB_URL"

// defaultTimeout bounds a command's requests unless --timeout says otherwise.
const defaultTimeout = 60 * time.Second

// command is one subcommand.
type command struct {
	name    string
	usage   string // arguments after the name
	summary string
	run     func(c *cli, args []string) int
}

// commands lists the subcommands in the order help shows them. It is
// filled in init: the run functions refer to the list (help does).
var commands []command

func init() {
	commands = []command{
		{"servers", "", "list the downstream servers and their state", (*cli).servers},
		{"tools", "[-q QUERY] [--server NAME]", "list (or search) the tools", (*cli).tools},
		{"call", "NAME ['{\"arg\":1}' | -]", "call a tool (arguments: a JSON object, - reads stdin)", (*cli).call},
		{"approvals", "[--state STATE]", "list approval requests", (*cli).approvals},
		{"approve", "ID", "approve a pending call and run it", (*cli).approve},
		{"reject", "ID [--reason TEXT]", "reject a pending call", (*cli).reject},
		{"config", "validate|show [FILE...]", "check a config, or print it resolved with secrets redacted", (*cli).config},
		{"help", "[COMMAND]", "show help", (*cli).help},
	}
}

// isCommand reports whether name is a subcommand rather than the start of
// the serve flags.
func isCommand(name string) bool {
	return slices.ContainsFunc(commands, func(c command) bool { return c.name == name })
}

// runCLI runs the subcommand args[0] and returns the exit code.
func runCLI(args []string, stdout, stderr io.Writer) int {
	c := &cli{stdout: stdout, stderr: stderr, stdin: os.Stdin, lookupEnv: os.LookupEnv}
	return c.run(args)
}

// cli is one run of a subcommand. Everything it reads from the process
// (environment, stdin, working directory) is a field, so tests run it in
// parallel with their own.
type cli struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	lookupEnv      func(string) (string, bool)
	dir            string // where config files are searched; "" is the working directory
}

func (c *cli) run(args []string) int {
	for _, cmd := range commands {
		if cmd.name == args[0] {
			return cmd.run(c, args[1:])
		}
	}
	fmt.Fprintf(c.stderr, "mcphub: unknown command %q\nRun 'mcphub help' for usage.\n", args[0])
	return exitUsage
}

func (c *cli) help(args []string) int {
	if len(args) > 0 && args[0] != "help" && isCommand(args[0]) {
		return c.run([]string{args[0], "--help"})
	}
	// The serve usage is the flag set's: run prints it, here to stdout
	// since it was asked for.
	return run([]string{"--help"}, c.stdout, c.stdout)
}

// writeCommands writes the "Commands:" section of the usage.
func writeCommands(w io.Writer) {
	fmt.Fprintln(w, "Commands (talk to a running hub, or check a config):")
	for _, cmd := range commands {
		left := cmd.name
		if cmd.usage != "" {
			left += " " + cmd.usage
		}
		fmt.Fprintf(w, "  %-40s %s\n", left, cmd.summary)
	}
}

// serveUsage is the usage of mcphub itself: serving, and the subcommands.
func serveUsage(fs *pflag.FlagSet) {
	w := fs.Output()
	fmt.Fprint(w, "Usage:\n  mcphub [flags]               serve the hub\n  mcphub COMMAND [flags] ...   see Commands\n\n")
	writeCommands(w)
	fmt.Fprintf(w, "\nFlags:\n%s\nRun 'mcphub COMMAND --help' for a command's flags.\n", fs.FlagUsages())
}

// flagSet is the flag set of the command name. Its usage goes to stdout:
// it is printed only when asked for with --help.
func (c *cli) flagSet(name string) *pflag.FlagSet {
	for _, cmd := range commands {
		if cmd.name == name {
			return c.flagSetFor(name, cmd.usage, cmd.summary)
		}
	}
	return c.flagSetFor(name, "", name)
}

// flagSetFor is a flag set whose --help shows usage and summary.
func (c *cli) flagSetFor(name, usage, summary string) *pflag.FlagSet {
	fs := pflag.NewFlagSet("mcphub "+name, pflag.ContinueOnError)
	fs.SetOutput(c.stdout)
	fs.Usage = func() {
		fmt.Fprintf(c.stdout, "Usage: mcphub %s %s\n\n%s.\n\nFlags:\n%s", name, usage, upperFirst(summary), fs.FlagUsages())
	}
	return fs
}

// parse parses args into fs. done reports that the command must end now
// with code: after --help, or a bad flag.
func (c *cli) parse(fs *pflag.FlagSet, args []string) (code int, done bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK, true
		}
		return c.usageError("%v", err), true
	}
	return exitOK, false
}

// usageError reports a mistake in the command line.
func (c *cli) usageError(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "mcphub: %s\nRun 'mcphub help' for usage.\n", fmt.Sprintf(format, args...))
	return exitUsage
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// hubFlags are the flags of every command that talks to a hub.
type hubFlags struct {
	url     string
	timeout time.Duration
	json    bool
}

func (c *cli) addHubFlags(fs *pflag.FlagSet) *hubFlags {
	def := "http://" + config.DefaultListen
	if v, ok := c.lookupEnv(envHubURL); ok && strings.TrimSpace(v) != "" {
		def = strings.TrimSpace(v)
	}
	f := &hubFlags{}
	fs.StringVar(&f.url, "hub", def, "the hub's URL, or set "+envHubURL+" (the token is read from "+config.EnvAPIToken+")")
	fs.DurationVar(&f.timeout, "timeout", defaultTimeout, "give up after this long (0: no limit)")
	fs.BoolVar(&f.json, "json", false, "print the hub's JSON as it answered")
	return f
}

// client returns a client for the hub f names, and a context bounded by
// the timeout plus extra (the time a call may wait for approval). Call
// the returned function when done: it closes idle connections too.
func (c *cli) client(f *hubFlags, extra time.Duration) (*hubClient, context.Context, func(), error) {
	base, err := hubURL(f.url)
	if err != nil {
		return nil, nil, nil, err
	}
	token, _ := c.lookupEnv(config.EnvAPIToken)
	// A transport of its own: nothing global changes, and the connections
	// end with the command.
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment, DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext}
	hc := &hubClient{base: base, token: strings.TrimSpace(token), http: &http.Client{Transport: tr}, timeout: f.timeout}
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if f.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, f.timeout+extra)
	}
	return hc, ctx, func() { cancel(); tr.CloseIdleConnections() }, nil
}

// hubURL checks a --hub value; "host:port" means http://host:port.
func hubURL(raw string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, usageErr("--hub: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, usageErr("--hub: want http://host:port or https://host, got %q", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// hubClient sends requests to one hub's REST API.
type hubClient struct {
	base    *url.URL
	token   string
	http    *http.Client
	timeout time.Duration // for messages
}

// hubError is an error answer of the hub.
type hubError struct {
	status int
	msg    string // the body's "error", or what the body was
	url    string
	// tokenSent tells a wrong token from a missing one.
	tokenSent bool
}

func (e *hubError) Error() string {
	switch e.status {
	case http.StatusUnauthorized:
		if e.tokenSent {
			return fmt.Sprintf("the hub at %s refused the token in %s (HTTP 401: %s)", e.url, config.EnvAPIToken, e.msg)
		}
		return fmt.Sprintf("the hub at %s needs a token: set %s to one of its tokens (HTTP 401: %s)", e.url, config.EnvAPIToken, e.msg)
	case http.StatusForbidden:
		return fmt.Sprintf("%s (HTTP 403)", e.msg)
	}
	return fmt.Sprintf("%s (HTTP %d)", e.msg, e.status)
}

// usageError is a mistake on the command line found before anything was sent.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErr(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// url is the URL of path on the hub, with query q.
func (h *hubClient) url(path string, q url.Values) string {
	u := *h.base
	u.Path += path
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// do sends a request with body (JSON-encoded unless nil) and returns the
// response when its status is 2xx; anything else becomes a *hubError, and
// transport failures an error that names the hub.
func (h *hubClient) do(ctx context.Context, method, path string, q url.Values, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encoding the request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	target := h.url(path, q)
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("request to the hub: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, text/event-stream")
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return nil, h.transportError(ctx, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, h.transportError(ctx, err)
	}
	return nil, &hubError{status: resp.StatusCode, msg: errorText(raw, resp.Status), url: h.base.String(), tokenSent: h.token != ""}
}

// errorText is the "error" of an error body, or the body itself when it
// is not the hub's JSON (a proxy's page, say).
func errorText(raw []byte, status string) string {
	var e api.ErrorResponse
	if json.Unmarshal(raw, &e) == nil && e.Error != "" {
		return e.Error
	}
	text := strings.TrimSpace(string(raw))
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	if text == "" {
		return status
	}
	return status + ": " + text
}

// transportError explains a request that got no answer.
func (h *hubClient) transportError(ctx context.Context, err error) error {
	base := h.base.String()
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("no answer from the hub at %s within %s (--timeout): %w", base, h.timeout, context.DeadlineExceeded)
	case errors.Is(err, syscall.ECONNREFUSED):
		return &unreachableError{base: base, why: "connection refused; is it running? (set --hub or " + envHubURL + ")", err: err}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return &unreachableError{base: base, why: dnsErr.Error(), err: err}
	}
	return fmt.Errorf("talking to the hub at %s: %w", base, err)
}

// unreachableError is a hub that could not be connected to. Its message
// leaves out the request: "Get <url>: dial tcp <addr>:" only repeats the URL.
type unreachableError struct {
	base, why string
	err       error
}

func (e *unreachableError) Error() string { return "cannot reach the hub at " + e.base + ": " + e.why }
func (e *unreachableError) Unwrap() error { return e.err }

// getRaw GETs path and returns the body as the hub sent it.
func (h *hubClient) getRaw(ctx context.Context, path string, q url.Values) ([]byte, error) {
	resp, err := h.do(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return nil, err
	}
	return h.readBody(ctx, resp)
}

// readBody reads and closes a successful answer's body.
func (h *hubClient) readBody(ctx context.Context, resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, h.transportError(ctx, err)
	}
	return raw, nil
}

// decode unmarshals a body the hub sent, saying which request it answered
// when it does not fit.
func decode(raw []byte, path string, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("unexpected answer to %s (is --hub an mcphub?): %w", path, err)
	}
	return nil
}

// fail reports err and returns its exit code.
func (c *cli) fail(err error) int {
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(c.stderr, "mcphub: %s\n", ue.msg)
		return exitUsage
	}
	fmt.Fprintf(c.stderr, "mcphub: %v\n", err)
	return exitError
}

// printJSON writes raw, the hub's JSON, to stdout as it came, ending with
// a newline.
func (c *cli) printJSON(raw []byte) {
	raw = bytes.TrimSpace(raw)
	_, _ = c.stdout.Write(append(raw[:len(raw):len(raw)], '\n'))
}
