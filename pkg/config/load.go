package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/viper"
)

// maxFileSize bounds what Load reads; real configs are a few kilobytes.
const maxFileSize = 10 << 20

// Loader loads configuration files. The zero value reads the process
// environment and runs ${cmd:...} placeholders with sh.
type Loader struct {
	// LookupEnv resolves ${VAR} and ${env:VAR}; nil means os.LookupEnv.
	LookupEnv func(key string) (string, bool)
	// RunCommand runs the command of a ${cmd:...} placeholder in dir (the
	// config file's directory) and returns its trimmed stdout; ctx carries
	// the 10s limit. Nil means `sh -c command`. Return an error to forbid
	// commands.
	RunCommand func(ctx context.Context, dir, command string) (string, error)
}

// Load loads files with the process environment; see Loader.Load. It is
// LoadContext for callers with nothing to cancel (a startup, a test).
func Load(files []string) (*Config, error) {
	return LoadContext(context.Background(), files)
}

// LoadContext loads files with the process environment; ctx bounds the
// commands of ${cmd: …} placeholders. See Loader.Load.
func LoadContext(ctx context.Context, files []string) (*Config, error) {
	var l Loader
	return l.Load(ctx, files)
}

// Load reads YAML (.yaml, .yml) or JSON (.json) files and merges them in
// order: hub settings (listen, refresh_interval, tool_name_separator,
// backoff.initial, backoff.max, approval.default, approval.require,
// approval.ttl, approval.max_pending, expose, auth.tokens, auth.rules,
// cors.origins, limits.max_body_bytes, limits.rate.per_second,
// limits.rate.burst, limits.read_header_timeout, limits.idle_timeout,
// audit.file) later-wins per key, a list replaced whole: a later file's
// auth.tokens replaces the earlier files' tokens, its auth.rules their
// rules (an empty list clears them; null or leaving the key out keeps
// them), and its cors.origins and approval.require likewise; servers by
// name, a later file's server replacing an earlier one of the same name in
// place (its tool filter with it) and new names appended; groups by name,
// a later file's group replacing an earlier one whole. Placeholders are
// resolved after merging, so overridden values are never resolved. ctx
// bounds ${cmd:...} commands.
//
// When the environment variable MCPHUB_API_TOKEN (EnvAPIToken, read
// through LookupEnv) is set and not empty, its value is one more token,
// named "env" (EnvTokenName), after the files' tokens; a file token of that
// name is then a problem.
//
// A file that cannot be read is a plain error (wrapping fs errors such as
// fs.ErrNotExist); anything wrong with the contents, including syntax
// errors, is reported all at once as a *ValidationError.
func (l *Loader) Load(ctx context.Context, files []string) (*Config, error) {
	if len(files) == 0 {
		return nil, errors.New("config: no files to load")
	}
	var ps problems
	docs := make([]fileDoc, 0, len(files))
	paths := make([]string, 0, len(files))
	for _, f := range files {
		path, err := filepath.Abs(f)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		paths = append(paths, path)
		data, err := readFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if doc, ok := readDoc(path, data, &ps); ok {
			docs = append(docs, doc)
		}
	}
	if len(docs) < len(files) {
		// A file that does not parse makes the merged view misleading.
		return nil, ps.err()
	}

	d := decoder{ctx: ctx, lookupEnv: l.LookupEnv, run: l.RunCommand, ps: &ps}
	if d.lookupEnv == nil {
		d.lookupEnv = os.LookupEnv
	}
	if d.run == nil {
		d.run = runShell
	}
	settings, servers, groups := merge(docs)
	cfg := d.hub(settings)
	for _, rs := range servers {
		cfg.Servers = append(cfg.Servers, d.server(rs, cfg.Backoff))
	}
	for _, rg := range groups {
		cfg.Groups = append(cfg.Groups, d.group(rg))
	}
	cfg.Files = paths

	reported := map[string]bool{}
	for _, p := range ps {
		reported[p.Path] = true
		if p.Path != "" {
			reported[p.File+"\x00"+p.Path] = true
		}
	}
	var ve *ValidationError
	if errors.As(cfg.Validate(), &ve) {
		// A value that failed to load was reset, so a second problem at the
		// same path, or inside it in the same file (the fields of a token
		// entry that is not a mapping), would only repeat the first.
		for _, p := range ve.Problems {
			if !reported[p.Path] && !reportedIn(reported, p.File, p.Path) {
				ps = append(ps, p)
			}
		}
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Default returns the configuration the hub runs when no config file is
// found (Find's found is false): the package's Default plus, as Load adds
// it, the token from MCPHUB_API_TOKEN (EnvAPIToken, read through
// LookupEnv), validated like a loaded config. A problem with that token is
// reported under the variable's name, in a *ValidationError.
func (l *Loader) Default() (*Config, error) {
	var ps problems
	d := decoder{lookupEnv: l.LookupEnv, ps: &ps} // envToken needs no placeholders
	if d.lookupEnv == nil {
		d.lookupEnv = os.LookupEnv
	}
	cfg := Default()
	cfg.positions = map[string]location{}
	d.envToken(cfg)
	if err := ps.err(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// reportedIn reports whether a parent of path in file is in reported.
func reportedIn(reported map[string]bool, file, path string) bool {
	for p := parentPath(path); p != ""; p = parentPath(p) {
		if reported[file+"\x00"+p] {
			return true
		}
	}
	return false
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return nil, err
	} else if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxFileSize)
	}
	return data, nil
}

// fileCtx is a file being loaded.
type fileCtx struct {
	path string // absolute
	dir  string // where ${cmd:...} runs and relative cwd values start
}

// setting is one hub setting as found in a file.
type setting struct {
	n    *node
	line int
	file *fileCtx
}

// rawServer is a server entry before its values are decoded.
type rawServer struct {
	name string
	path string // "servers[1]", "mcpServers.github", "servers.github"
	line int
	n    *node
	file *fileCtx
}

// rawGroup is a group entry before its values are decoded.
type rawGroup struct {
	name string
	path string // "groups.ops"
	line int
	n    *node // a list (short form), a mapping (long form) or null
	file *fileCtx
}

// fileDoc is what one file contributes.
type fileDoc struct {
	settings map[string]setting // by path: "listen", "backoff.max", "approval.ttl"
	servers  []rawServer
	groups   []rawGroup
}

// readDoc parses one file. Syntax and shape problems go to ps; ok is false
// when the file cannot be used at all.
func readDoc(path string, data []byte, ps *problems) (doc fileDoc, ok bool) {
	var format string
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".yaml", ".yml":
		format = "yaml"
	case ".json":
		format = "json"
	default:
		ps.add(path, 0, "", "unsupported file extension %q (want .yaml, .yml or .json)", ext)
		return doc, false
	}
	parse := parseYAML
	if format == "json" {
		parse = parseJSON
	}
	// Our own parse comes first: it gives lines for JSON errors too.
	root, err := parse(data)
	var pe *parseError
	if errors.As(err, &pe) {
		ps.add(path, pe.line, "", "invalid %s: %s", strings.ToUpper(format), pe.msg)
		return doc, false
	} else if err != nil {
		ps.add(path, 0, "", "invalid %s: %v", strings.ToUpper(format), err)
		return doc, false
	}
	if root.kind != kindMap {
		ps.add(path, root.line, "", "the top level must be a mapping, not a %s", root.kind)
		return doc, false
	}
	// Viper reads the hub settings. It lower-cases keys and loses order, so
	// servers, env and header names come from root instead.
	v := viper.New()
	v.SetConfigType(format)
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		pe := &parseError{msg: err.Error()}
		if inner := errors.Unwrap(err); inner != nil { // viper's ConfigParseError
			pe, _ = yamlError(inner).(*parseError)
		}
		ps.add(path, pe.line, "", "invalid %s: %s", strings.ToUpper(format), pe.msg)
		return doc, false
	}
	w := walker{file: &fileCtx{path: path, dir: filepath.Dir(path)}, v: v, ps: ps}
	return w.walk(root), true
}

// merge combines the files' contributions, later files winning. Groups
// come back sorted by name.
func merge(docs []fileDoc) (map[string]setting, []rawServer, []rawGroup) {
	settings := map[string]setting{}
	var servers []rawServer
	type slot struct{ pos, doc int }
	byName := map[string]slot{}
	// A file cannot hold two groups of one name (duplicate keys are
	// syntax errors), so later simply wins.
	groupsByName := map[string]rawGroup{}
	for i, doc := range docs {
		for _, rg := range doc.groups {
			groupsByName[rg.name] = rg
		}
		for k, s := range doc.settings {
			settings[k] = s
		}
		for _, rs := range doc.servers {
			if prev, ok := byName[rs.name]; ok && rs.name != "" && prev.doc < i {
				servers[prev.pos] = rs
				byName[rs.name] = slot{prev.pos, i}
				continue
			}
			// A duplicate inside one file is kept for Validate to report.
			if _, ok := byName[rs.name]; !ok && rs.name != "" {
				byName[rs.name] = slot{len(servers), i}
			}
			servers = append(servers, rs)
		}
	}
	var groups []rawGroup
	for _, name := range slices.Sorted(maps.Keys(groupsByName)) {
		groups = append(groups, groupsByName[name])
	}
	return settings, servers, groups
}
