package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/mcphub/mcphub/pkg/config"
)

// configLoadTimeout bounds loading a config, ${cmd:…} placeholders
// included (each has its own 10s limit).
const configLoadTimeout = 2 * time.Minute

func (c *cli) config(args []string) int {
	sub := ""
	if len(args) > 0 {
		sub = args[0]
	}
	switch sub {
	case "validate":
		return c.configValidate(args[1:])
	case "show":
		return c.configShow(args[1:])
	case "-h", "--help", "help":
		fmt.Fprint(c.stdout, "Usage:\n  mcphub config validate [FILE...] [--json]   check config files without a hub; every problem is listed\n"+
			"  mcphub config show [FILE...] [--json]       print the resolved config, secrets redacted\n\n"+
			"Files merge in order, as with the hub's -c. Without FILE, the config the hub would load:\n"+
			config.EnvConfigFile+", else "+orList(config.SearchPaths())+".\n")
		return exitOK
	case "":
		return c.usageError("config needs a subcommand: validate or show")
	}
	return c.usageError("unknown config subcommand %q (want validate or show)", sub)
}

// searchedFiles names where the hub looks for a config file when none is
// named with -c: MCP_CONFIG_FILE, then config.SearchPaths in order.
func searchedFiles() string {
	return strings.Join(append([]string{config.EnvConfigFile}, config.SearchPaths()...), ", ")
}

// orList joins items as a sentence does: "a, b or c".
func orList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// configFiles are the files a config command reads: those named (as
// arguments or with -c), else those the hub would find.
func (c *cli) configFiles(fs *pflag.FlagSet, flagged []string) (files []string, found bool, err error) {
	named := append(flagged, fs.Args()...)
	return config.Find(named, c.lookupEnv, c.dir)
}

// configProblem and invalidConfig are what config validate --json prints
// for a config that is not valid.
type configProblem struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

type invalidConfig struct {
	Valid    bool            `json:"valid"`
	Files    []string        `json:"files"`
	Problems []configProblem `json:"problems"`
}

func (c *cli) configValidate(args []string) int {
	fs := c.flagSetFor("config validate", "[FILE...]", "check config files without a running hub; every problem is listed with its file and line")
	flagged := fs.StringArrayP("config", "c", nil, "config file (repeatable; the same as naming it)")
	asJSON := fs.Bool("json", false, `print {"valid", "files", "servers"} or {"valid": false, "problems": [...]}`)
	if code, done := c.parse(fs, args); done {
		return code
	}
	files, found, err := c.configFiles(fs, *flagged)
	// fail reports what kept the files from being checked at all (none
	// found, one unreadable): with --json, as the verdict too, one problem.
	fail := func(err error) int {
		if *asJSON {
			c.writeJSON(invalidConfig{Files: nonNil(files), Problems: []configProblem{{Message: err.Error()}}})
		}
		return c.fail(err)
	}
	if err != nil {
		return fail(err)
	}
	if !found {
		return fail(errors.New("no config file found (looked for " + searchedFiles() + "); name one"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), configLoadTimeout)
	defer cancel()
	l := config.Loader{LookupEnv: c.lookupEnv}
	cfg, err := l.Load(ctx, files)
	var ve *config.ValidationError
	switch {
	case errors.As(err, &ve):
		if *asJSON {
			out := invalidConfig{Files: files}
			for _, p := range ve.Problems {
				out.Problems = append(out.Problems, configProblem(p))
			}
			c.writeJSON(out)
		}
		fmt.Fprintln(c.stderr, ve.Error())
		return exitError
	case err != nil:
		return fail(err)
	}
	if *asJSON {
		c.writeJSON(struct {
			Valid   bool     `json:"valid"`
			Files   []string `json:"files"`
			Servers int      `json:"servers"`
		}{true, cfg.Files, len(cfg.Servers)})
		return exitOK
	}
	noun := "servers"
	if len(cfg.Servers) == 1 {
		noun = "server"
	}
	fmt.Fprintf(c.stdout, "ok: %d %s (%s)\n", len(cfg.Servers), noun, strings.Join(cfg.Files, ", "))
	return exitOK
}

func (c *cli) configShow(args []string) int {
	fs := c.flagSetFor("config show", "[FILE...]", "print the configuration the hub would run, resolved and defaulted, with every secret redacted")
	flagged := fs.StringArrayP("config", "c", nil, "config file (repeatable; the same as naming it)")
	asJSON := fs.Bool("json", false, "print JSON instead of YAML")
	if code, done := c.parse(fs, args); done {
		return code
	}
	files, found, err := c.configFiles(fs, *flagged)
	if err != nil {
		return c.fail(err)
	}
	var cfg *config.Config
	l := config.Loader{LookupEnv: c.lookupEnv}
	if found {
		ctx, cancel := context.WithTimeout(context.Background(), configLoadTimeout)
		defer cancel()
		cfg, err = l.Load(ctx, files)
	} else {
		// What the hub runs without a file (see run): the default
		// server and the token from the environment, refused as the hub
		// refuses it.
		fmt.Fprintln(c.stderr, "mcphub: no config file found (looked for "+searchedFiles()+"); using the built-in default")
		cfg, err = l.Default()
	}
	if err != nil {
		var ve *config.ValidationError
		if errors.As(err, &ve) {
			fmt.Fprintf(c.stderr, "%v\n", ve)
			return exitError
		}
		return c.fail(err)
	}
	view := newConfigView(cfg.Redacted())
	if *asJSON {
		c.writeJSON(view)
		return exitOK
	}
	var b bytes.Buffer
	if len(cfg.Files) > 0 {
		fmt.Fprintf(&b, "# resolved from %s\n", strings.Join(cfg.Files, ", "))
	} else {
		b.WriteString("# the built-in default (no config file found)\n")
	}
	b.WriteString("# secrets are redacted: tokens, env and header values, endpoint credentials, and what ${cmd:…} or a *KEY*/*TOKEN*/*SECRET*-like variable produced in a server entry\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(view); err != nil {
		return c.fail(fmt.Errorf("encoding the config: %w", err))
	}
	if err := enc.Close(); err != nil {
		return c.fail(fmt.Errorf("encoding the config: %w", err))
	}
	_, _ = c.stdout.Write(b.Bytes())
	return exitOK
}

// writeJSON writes v indented, without HTML escaping ("<redacted>" stays
// readable).
func (c *cli) writeJSON(v any) {
	enc := json.NewEncoder(c.stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(c.stderr, "mcphub: encoding JSON: %v\n", err)
	}
}

// configView is a Config in the file format's own keys, so what config
// show prints reads like the files (and loads again, secrets aside).
type configView struct {
	Listen              string               `yaml:"listen" json:"listen"`
	RefreshInterval     string               `yaml:"refresh_interval" json:"refresh_interval"`
	ToolNameSeparator   string               `yaml:"tool_name_separator" json:"tool_name_separator"`
	MaxConcurrentStarts int                  `yaml:"max_concurrent_starts" json:"max_concurrent_starts"`
	Backoff             backoffView          `yaml:"backoff" json:"backoff"`
	Approval            approvalView         `yaml:"approval" json:"approval"`
	Expose              string               `yaml:"expose" json:"expose"`
	Auth                authView             `yaml:"auth" json:"auth"`
	CORS                corsView             `yaml:"cors" json:"cors"`
	Limits              limitsView           `yaml:"limits" json:"limits"`
	Audit               auditView            `yaml:"audit" json:"audit"`
	Groups              map[string]groupView `yaml:"groups,omitempty" json:"groups,omitempty"`
	Servers             []serverView         `yaml:"servers" json:"servers"`
}

type backoffView struct {
	Initial string `yaml:"initial" json:"initial"`
	Max     string `yaml:"max" json:"max"`
}

type approvalView struct {
	Default    string   `yaml:"default" json:"default"`
	Require    []string `yaml:"require" json:"require"`
	TTL        string   `yaml:"ttl" json:"ttl"`
	MaxPending int      `yaml:"max_pending" json:"max_pending"`
}

type authView struct {
	Tokens []tokenView `yaml:"tokens" json:"tokens"`
	Rules  []ruleView  `yaml:"rules,omitempty" json:"rules,omitempty"`
}

type tokenView struct {
	Name  string `yaml:"name" json:"name"`
	Token string `yaml:"token" json:"token"`
}

type ruleView struct {
	Prefix string   `yaml:"prefix" json:"prefix"`
	Tokens []string `yaml:"tokens" json:"tokens"`
}

type corsView struct {
	Origins []string `yaml:"origins" json:"origins"`
}

type limitsView struct {
	MaxBodyBytes      int64    `yaml:"max_body_bytes" json:"max_body_bytes"`
	Rate              rateView `yaml:"rate" json:"rate"`
	ReadHeaderTimeout string   `yaml:"read_header_timeout" json:"read_header_timeout"`
	IdleTimeout       string   `yaml:"idle_timeout" json:"idle_timeout"`
}

type rateView struct {
	PerSecond float64 `yaml:"per_second" json:"per_second"`
	Burst     int     `yaml:"burst" json:"burst"`
}

type auditView struct {
	File string `yaml:"file" json:"file"`
}

type groupView struct {
	Servers []string        `yaml:"servers" json:"servers"`
	Tools   *toolFilterView `yaml:"tools,omitempty" json:"tools,omitempty"`
	Expose  string          `yaml:"expose,omitempty" json:"expose,omitempty"`
}

type toolFilterView struct {
	Allow []string `yaml:"allow,omitempty" json:"allow,omitempty"`
	Deny  []string `yaml:"deny,omitempty" json:"deny,omitempty"`
}

type serverView struct {
	Name            string            `yaml:"name" json:"name"`
	Transport       string            `yaml:"transport" json:"transport"`
	Endpoint        string            `yaml:"endpoint,omitempty" json:"endpoint,omitempty"`
	Command         string            `yaml:"command,omitempty" json:"command,omitempty"`
	Args            []string          `yaml:"args,omitempty" json:"args,omitempty"`
	Env             map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	Cwd             string            `yaml:"cwd,omitempty" json:"cwd,omitempty"`
	Headers         map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	RequestIDMeta   bool              `yaml:"request_id_meta,omitempty" json:"request_id_meta,omitempty"`
	Enabled         bool              `yaml:"enabled" json:"enabled"`
	Timeout         string            `yaml:"timeout" json:"timeout"`
	ProtocolVersion string            `yaml:"protocol_version" json:"protocol_version"`
	Backoff         backoffView       `yaml:"backoff" json:"backoff"`
	Approval        string            `yaml:"approval,omitempty" json:"approval,omitempty"`
	RequireApproval []string          `yaml:"require_approval,omitempty" json:"require_approval,omitempty"`
	Tools           *toolFilterView   `yaml:"tools,omitempty" json:"tools,omitempty"`
}

// newConfigView renders r, an already redacted config.
func newConfigView(r *config.Config) configView {
	v := configView{
		Listen:              r.Listen,
		RefreshInterval:     duration(r.RefreshInterval),
		ToolNameSeparator:   r.ToolNameSeparator,
		MaxConcurrentStarts: r.MaxConcurrentStarts,
		Backoff:             backoffView{duration(r.Backoff.Initial), duration(r.Backoff.Max)},
		Approval: approvalView{
			Default: string(r.Approval.Default), Require: nonNil(r.Approval.Require),
			TTL: duration(r.Approval.TTL), MaxPending: r.Approval.MaxPending,
		},
		Expose: string(r.Expose),
		Auth:   authView{Tokens: []tokenView{}},
		CORS:   corsView{Origins: nonNil(r.CORS.Origins)},
		Limits: limitsView{
			MaxBodyBytes:      r.Limits.MaxBodyBytes,
			Rate:              rateView{r.Limits.Rate.PerSecond, r.Limits.Rate.Burst},
			ReadHeaderTimeout: duration(r.Limits.ReadHeaderTimeout),
			IdleTimeout:       duration(r.Limits.IdleTimeout),
		},
		Audit:   auditView{r.Audit.File},
		Servers: []serverView{},
	}
	for _, t := range r.Auth.Tokens {
		v.Auth.Tokens = append(v.Auth.Tokens, tokenView{t.Name, t.Token})
	}
	for _, rule := range r.Auth.Rules {
		v.Auth.Rules = append(v.Auth.Rules, ruleView{rule.Prefix, nonNil(rule.Tokens)})
	}
	for _, g := range r.Groups {
		if v.Groups == nil {
			v.Groups = map[string]groupView{}
		}
		v.Groups[g.Name] = groupView{Servers: nonNil(g.Servers), Tools: toolFilter(g.Tools), Expose: string(g.Expose)}
	}
	for _, s := range r.Servers {
		sv := serverView{
			Name: s.Name, Transport: string(s.Transport), Endpoint: s.Endpoint,
			Command: s.Command, Cwd: s.Cwd, Env: s.Env, Headers: s.Headers, RequestIDMeta: s.RequestIDMeta,
			Enabled: s.Enabled, Timeout: duration(s.Timeout), ProtocolVersion: s.ProtocolVersion,
			Backoff:  backoffView{duration(s.Backoff.Initial), duration(s.Backoff.Max)},
			Approval: string(s.Approval), RequireApproval: s.RequireApproval, Tools: toolFilter(s.Tools),
			Args: s.Args,
		}
		v.Servers = append(v.Servers, sv)
	}
	return v
}

func toolFilter(f config.ToolFilter) *toolFilterView {
	if f.Empty() {
		return nil
	}
	return &toolFilterView{Allow: f.Allow, Deny: f.Deny}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// duration writes d the way a person would in a config: "5m", "1h30m",
// "1.5s", not "5m0s".
func duration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
