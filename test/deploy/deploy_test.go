// Package deploy checks the deployment files without Docker or a running
// systemd: the Dockerfile (linted; its build commands run on exactly the
// context .dockerignore leaves, the binaries checked static and stripped,
// the image's ENTRYPOINT and CMD started), `go install module@latest` from a
// module proxy on disk, and deploy/mcphub.service (systemd-analyze verify).
//
// The tools it runs are installed by scripts/install-test-peers.sh; without
// them a test is skipped, unless MCPHUB_REQUIRE_PEERS=1 (make test) makes
// that a failure. hadolint, which installs from neither Debian nor npm here,
// runs only when it is on PATH.
package deploy

import (
	"archive/zip"
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// repoRoot is the module root, two levels up from test/deploy.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// missingPeer skips the test, or fails it under MCPHUB_REQUIRE_PEERS=1.
func missingPeer(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("MCPHUB_REQUIRE_PEERS") == "1" {
		t.Fatalf("MCPHUB_REQUIRE_PEERS=1 but %s; run ./scripts/install-test-peers.sh", what)
	}
	t.Skipf("%s; run ./scripts/install-test-peers.sh", what)
}

// --- the Dockerfile -------------------------------------------------------

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line  int    // 1-based line of the keyword
	cmd   string // upper case: FROM, RUN, ...
	flags []string
	args  string // the rest, flags removed
}

// stage is one FROM and what follows it.
type stage struct {
	image, name string
	insts       []instruction
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.insts {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// parseDockerfile reads the instructions the way docker does for this file's
// needs: comment lines dropped (inside continuations too), trailing
// backslashes joining lines, leading --flags split off.
func parseDockerfile(t testing.TB, text string) []stage {
	t.Helper()
	var insts []instruction
	var cur *instruction
	var buf strings.Builder
	for i, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if cur == nil {
			cur = &instruction{line: i + 1}
			buf.Reset()
		}
		cont := strings.HasSuffix(line, `\`)
		buf.WriteString(strings.TrimSuffix(line, `\`))
		buf.WriteString(" ")
		if cont {
			continue
		}
		full := strings.TrimSpace(buf.String())
		kw, rest, _ := strings.Cut(full, " ")
		cur.cmd = strings.ToUpper(kw)
		rest = strings.TrimSpace(rest)
		for strings.HasPrefix(rest, "--") {
			flag, r, _ := strings.Cut(rest, " ")
			cur.flags = append(cur.flags, flag)
			rest = strings.TrimSpace(r)
		}
		cur.args = rest
		insts = append(insts, *cur)
		cur = nil
	}
	if cur != nil {
		t.Fatalf("Dockerfile:%d: the file ends inside a continued instruction", cur.line)
	}
	var stages []stage
	for _, in := range insts {
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			s := stage{image: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("Dockerfile:%d: %s before the first FROM", in.line, in.cmd)
			}
			continue
		}
		stages[len(stages)-1].insts = append(stages[len(stages)-1].insts, in)
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile: want a build stage and a runtime stage, found %d stage(s)", len(stages))
	}
	return stages
}

func readDockerfile(t testing.TB) []stage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	return parseDockerfile(t, string(b))
}

// execForm decodes the JSON (exec) form of ENTRYPOINT or CMD.
func execForm(t testing.TB, in instruction) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(in.args), &v); err != nil || len(v) == 0 {
		t.Fatalf("Dockerfile:%d: %s must use the JSON form (hadolint DL3025), so that the hub gets the signals: %s", in.line, in.cmd, in.args)
	}
	return v
}

// image describes the runtime stage as the tests run it.
type image struct {
	entrypoint, cmd []string
	expose          string
	user            string
	copies          map[string]string // image path -> build stage path, for COPY --from
	contextCopies   map[string]string // image path -> context path
}

func runtimeImage(t testing.TB, stages []stage) image {
	t.Helper()
	final := stages[len(stages)-1]
	img := image{copies: map[string]string{}, contextCopies: map[string]string{}}
	for _, in := range final.insts {
		switch in.cmd {
		case "ENTRYPOINT":
			img.entrypoint = execForm(t, in)
		case "CMD":
			img.cmd = execForm(t, in)
		case "EXPOSE":
			img.expose = in.args
		case "USER":
			img.user = in.args
		case "COPY":
			f := strings.Fields(in.args)
			dst := f[len(f)-1]
			from := ""
			for _, fl := range in.flags {
				if v, ok := strings.CutPrefix(fl, "--from="); ok {
					from = v
				}
			}
			for _, src := range f[:len(f)-1] {
				target := dst
				if strings.HasSuffix(dst, "/") {
					target = dst + path.Base(src)
				}
				if from != "" {
					img.copies[target] = src
				} else {
					img.contextCopies[target] = src
				}
			}
		}
	}
	return img
}

var goLineRE = regexp.MustCompile(`(?m)^go (\d+)\.(\d+)(?:\.(\d+))?\s*$`)
var golangTagRE = regexp.MustCompile(`^golang:(\d+)\.(\d+)\.(\d+)-[a-z]+$`)

// TestDockerfileRules checks the rules hadolint would, on this file, and
// this project's own: pinned bases, apt hygiene, a numeric non-root user,
// the exec form, tini as init, the listen address and the Go version.
func TestDockerfileRules(t *testing.T) {
	t.Parallel()
	stages := readDockerfile(t)
	root := repoRoot(t)

	for i, s := range stages {
		name, tag, ok := strings.Cut(s.image, ":")
		if !ok || tag == "" || tag == "latest" || strings.Contains(name, "$") {
			t.Errorf("stage %d: FROM %s: pin a tag, not latest (hadolint DL3006, DL3007)", i, s.image)
		}
		for _, in := range s.insts {
			if in.cmd == "ADD" {
				t.Errorf("Dockerfile:%d: use COPY, not ADD (hadolint DL3020)", in.line)
			}
			if in.cmd == "WORKDIR" && !strings.HasPrefix(in.args, "/") {
				t.Errorf("Dockerfile:%d: WORKDIR %s is relative (hadolint DL3000)", in.line, in.args)
			}
			if in.cmd != "RUN" || !strings.Contains(in.args, "apt-get install") {
				continue
			}
			for _, want := range []string{"apt-get update", " -y ", "--no-install-recommends", "rm -rf /var/lib/apt/lists/*"} {
				if !strings.Contains(in.args, want) {
					t.Errorf("Dockerfile:%d: an apt-get install without %q in the same RUN (hadolint DL3009, DL3014, DL3015)", in.line, want)
				}
			}
			if strings.Contains(in.args, "|") && !strings.Contains(in.args, "||") {
				t.Errorf("Dockerfile:%d: a pipe in RUN needs SHELL with -o pipefail (hadolint DL4006)", in.line)
			}
		}
	}

	// The Go image must be able to build go.mod's Go version: it runs with
	// GOTOOLCHAIN=local and cannot download a newer toolchain.
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := goLineRE.FindStringSubmatch(string(gomod))
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	want := [3]int{atoi(m[1]), atoi(m[2]), atoi(m[3])}
	if n := golangTagRE.FindStringSubmatch(stages[0].image); n == nil {
		t.Errorf("build stage FROM %s: want golang:MAJOR.MINOR.PATCH-DEBIAN, a pinned patch release", stages[0].image)
	} else if got := [3]int{atoi(n[1]), atoi(n[2]), atoi(n[3])}; !versionAtLeast(got, want) {
		t.Errorf("build stage FROM %s is older than go.mod's go %d.%d.%d", stages[0].image, want[0], want[1], want[2])
	}

	img := runtimeImage(t, stages)
	// A numeric user, so that Kubernetes' runAsNonRoot can verify it.
	if uid, _, _ := strings.Cut(img.user, ":"); uid == "" || uid == "0" || strings.Trim(uid, "0123456789") != "" {
		t.Errorf("runtime stage: USER %q: want a numeric non-root user (hadolint DL3002)", img.user)
	}
	if len(img.entrypoint) < 3 || img.entrypoint[0] != "/usr/bin/tini" || img.entrypoint[len(img.entrypoint)-1] != "/usr/local/bin/mcphub" {
		t.Errorf("ENTRYPOINT %q: want /usr/bin/tini ... -- /usr/local/bin/mcphub", img.entrypoint)
	}
	for _, a := range img.entrypoint {
		if a == "-g" {
			t.Errorf("ENTRYPOINT %q: tini -g signals the hub's whole process group; the hub stops its children itself", img.entrypoint)
		}
	}
	listen := flagValue(img.cmd, "--listen")
	_, port, err := net.SplitHostPort(listen)
	if err != nil || !strings.HasPrefix(listen, "0.0.0.0:") {
		t.Errorf("CMD %q: want --listen 0.0.0.0:PORT, reachable from outside the container", img.cmd)
	} else if img.expose != port {
		t.Errorf("EXPOSE %s, but the hub listens on %s", img.expose, listen)
	}
	if cfg := flagValue(img.cmd, "-c"); img.contextCopies[cfg] == "" {
		t.Errorf("CMD %q: the config %q is not copied into the image", img.cmd, cfg)
	}
	for dst := range img.copies {
		if !strings.HasPrefix(dst, "/usr/local/bin/") {
			t.Errorf("COPY --from to %s: want the binaries in /usr/local/bin", dst)
		}
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func versionAtLeast(got, want [3]int) bool {
	for i := range got {
		if got[i] != want[i] {
			return got[i] > want[i]
		}
	}
	return true
}

// flagValue returns the value after flag in args ("" if absent).
func flagValue(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

// TestDockerfileLint runs the Dockerfile linters: dockerfile-utils (pinned
// in test/deploy/package-lock.json) and hadolint when it is on PATH. Any
// finding, warnings included, fails.
func TestDockerfileLint(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	dockerfile := filepath.Join(root, "Dockerfile")

	if hadolint, err := exec.LookPath("hadolint"); err == nil {
		out, err := exec.Command(hadolint, dockerfile).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("hadolint Dockerfile: %v\n%s", err, out)
		}
	} else {
		t.Log("hadolint is not on PATH (Debian and npm do not have it): only dockerfile-utils runs")
	}

	lint := filepath.Join(root, "test", "deploy", "node_modules", ".bin", "dockerfile-utils")
	if _, err := os.Stat(lint); err != nil {
		missingPeer(t, fmt.Sprintf("the Dockerfile linter %s is not installed", lint))
	}
	if _, err := exec.LookPath("node"); err != nil {
		missingPeer(t, "node is not on PATH (dockerfile-utils needs it)")
	}
	out, err := exec.Command(lint, "lint", "--json", dockerfile).Output()
	if err != nil {
		t.Fatalf("dockerfile-utils lint: %v\n%s", err, out)
	}
	var diags []struct {
		Message  string `json:"message"`
		Severity string `json:"severity"`
		Range    struct {
			Start struct{ Line int } `json:"start"`
		} `json:"range"`
	}
	if err := json.Unmarshal(out, &diags); err != nil {
		t.Fatalf("dockerfile-utils lint --json: %v: %s", err, out)
	}
	for _, d := range diags {
		t.Errorf("Dockerfile:%d: %s: %s", d.Range.Start.Line+1, d.Severity, d.Message)
	}
}

// --- .dockerignore --------------------------------------------------------

// ignorePattern is one .dockerignore line, as Docker reads it.
type ignorePattern struct {
	text      string
	exclusion bool // "!pattern": put back what an earlier line left out
	re        *regexp.Regexp
}

func compileIgnore(t testing.TB, text string) []ignorePattern {
	t.Helper()
	var out []ignorePattern
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := ignorePattern{text: line}
		if rest, ok := strings.CutPrefix(line, "!"); ok {
			p.exclusion = true
			line = rest
		}
		line = strings.TrimPrefix(path.Clean("/"+line), "/")
		p.re = regexp.MustCompile("^" + globRegexp(line) + "$")
		out = append(out, p)
	}
	return out
}

// globRegexp translates a Docker ignore pattern: * and ? stop at slashes,
// ** crosses them.
func globRegexp(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '*' && i+1 < len(p) && p[i+1] == '*':
			i++
			if i+1 < len(p) && p[i+1] == '/' {
				i++
				b.WriteString("(.*/)?")
			} else {
				b.WriteString(".*")
			}
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

// excluded applies the patterns in order, the last match winning; a
// pattern matches a path or any directory above it.
func excluded(ps []ignorePattern, rel string) bool {
	out := false
	for _, p := range ps {
		for q := rel; q != "." && q != "/"; q = path.Dir(q) {
			if p.re.MatchString(q) {
				out = !p.exclusion
				break
			}
		}
	}
	return out
}

// mayHoldIncluded reports whether an exclusion pattern could put back
// something under the excluded directory dir.
func mayHoldIncluded(ps []ignorePattern, dir string) bool {
	for _, p := range ps {
		if !p.exclusion {
			continue
		}
		pat := strings.Split(strings.TrimPrefix(path.Clean("/"+strings.TrimPrefix(p.text, "!")), "/"), "/")
		d := strings.Split(dir, "/")
		ok := true
		for i := 0; i < len(d) && i < len(pat); i++ {
			if pat[i] == "**" {
				break
			}
			if m, _ := path.Match(pat[i], d[i]); !m {
				ok = false
				break
			}
		}
		if ok && len(pat) > len(d) {
			return true
		}
	}
	return false
}

// buildContext copies what .dockerignore leaves of the repository into a
// new directory: the files `docker build .` would send.
func buildContext(t testing.TB) string {
	t.Helper()
	root := repoRoot(t)
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	ps := compileIgnore(t, string(ignore))
	ctx := filepath.Join(t.TempDir(), "context")
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return os.MkdirAll(ctx, 0o755)
		}
		rel = filepath.ToSlash(rel)
		if excluded(ps, rel) {
			if d.IsDir() && !mayHoldIncluded(ps, rel) {
				return filepath.SkipDir
			}
			if !d.IsDir() {
				return nil
			}
		}
		dst := filepath.Join(ctx, filepath.FromSlash(rel))
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, dst)
		case d.Type().IsRegular():
			return copyFile(p, dst)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func TestDockerignorePatterns(t *testing.T) {
	t.Parallel()
	ps := compileIgnore(t, "*\n!go.mod\n!*.go\n!cmd/\n!deploy/docker/\n**/*_test.go\n")
	for rel, want := range map[string]bool{
		".git/config":                  true,
		"bin/mcphub":                   true,
		"README.md":                    true,
		"go.mod":                       false,
		"embed.go":                     false,
		"cmd/mcphub/main.go":           false,
		"cmd/mcphub/main_test.go":      true,
		"deploy/mcphub.service":        true,
		"deploy/docker/mcp_servers.ya": false,
		"test/peers/node_modules/x.js": true,
	} {
		if got := excluded(ps, rel); got != want {
			t.Errorf("excluded(%q) = %v, want %v", rel, got, want)
		}
	}
	if !mayHoldIncluded(ps, "deploy") || mayHoldIncluded(ps, "test") {
		t.Error("mayHoldIncluded: want deploy (deploy/docker is put back) and not test")
	}
}

// --- building as the Dockerfile does ------------------------------------

// outDir is where the build stage puts the binaries; the test maps it to a
// temporary directory.
const outDir = "/out/"

// buildMu runs the two builds one after the other: both compile every
// dependency with CGO_ENABLED=0 and -trimpath, flags the rest of the tests
// do not use, and the second then finds it all in the build cache.
var buildMu sync.Mutex

// buildLikeDocker runs the build stage's RUN commands with sh -c (as docker
// does) on the build context, ARGs set, --mount flags dropped (a cache mount
// only speeds the build up), /out/ mapped to a temporary directory.
func buildLikeDocker(t testing.TB, stages []stage, version string) (ctx, out string) {
	t.Helper()
	ctx = buildContext(t)
	out = filepath.Join(t.TempDir(), "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	// The ARGs; TARGETOS and TARGETARCH empty build for this machine.
	env := []string{"VERSION=" + version, "TARGETOS=", "TARGETARCH="}
	ran := 0
	buildMu.Lock()
	defer buildMu.Unlock()
	for _, in := range stages[0].all("RUN") {
		script := strings.ReplaceAll(in.args, outDir, out+"/")
		cmd := exec.Command("sh", "-c", script)
		cmd.Dir = ctx
		cmd.Env = append(os.Environ(), env...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("Dockerfile:%d: RUN %s\n(in the build context %s): %v\n%s", in.line, in.args, ctx, err, b)
		}
		ran++
	}
	if ran == 0 {
		t.Fatal("the build stage has no RUN")
	}
	return ctx, out
}

// checkStatic fails unless bin is a stripped, statically linked ELF
// executable without build paths.
func checkStatic(t testing.TB, bin string, paths ...string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has an ELF interpreter: it is dynamically linked (CGO_ENABLED=0?)", bin)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v", bin, libs)
	}
	for _, s := range []string{".symtab", ".debug_info"} {
		if f.Section(s) != nil {
			t.Errorf("%s has a %s section: not built with -ldflags \"-s -w\"", bin, s)
		}
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if bytes.Contains(data, []byte(p)) {
			t.Errorf("%s contains the build path %s: not built with -trimpath", bin, p)
		}
	}
}

// TestDockerBuild runs the Dockerfile's build commands without Docker, then
// the image's ENTRYPOINT and CMD: the hub refuses to start without a token,
// and with one serves the shipped config and stops cleanly on SIGTERM.
func TestDockerBuild(t *testing.T) {
	t.Parallel()
	stages := readDockerfile(t)
	img := runtimeImage(t, stages)
	if len(img.entrypoint) == 0 || len(img.cmd) == 0 {
		t.Fatalf("the runtime stage needs an ENTRYPOINT and a CMD; TestDockerfileRules says more")
	}
	const version = "v9.8.7-deploytest"
	ctx, out := buildLikeDocker(t, stages, version)

	// What the runtime stage copies exists, from the build and the context.
	bins := map[string]string{} // image path -> built file
	for dst, src := range img.copies {
		rel, ok := strings.CutPrefix(src, outDir)
		if !ok {
			t.Fatalf("COPY --from %s: the test maps only %s", src, outDir)
		}
		bins[dst] = filepath.Join(out, rel)
		checkStatic(t, bins[dst], ctx, repoRoot(t))
	}
	hub := bins[img.entrypoint[len(img.entrypoint)-1]]
	if hub == "" {
		t.Fatalf("the ENTRYPOINT's %s is not copied from the build stage", img.entrypoint[len(img.entrypoint)-1])
	}
	for dst, src := range img.contextCopies {
		if _, err := os.Stat(filepath.Join(ctx, src)); err != nil {
			t.Fatalf("COPY %s %s: not in the build context (.dockerignore?): %v", src, dst, err)
		}
	}

	// --version prints what -X main.version set (no commit: there is no
	// .git in the build context).
	got, err := exec.Command(hub, "--version").Output()
	if err != nil || !regexp.MustCompile(`^mcphub `+regexp.QuoteMeta(version)+`( \([0-9a-f]{12}\))?\n$`).Match(got) {
		t.Errorf("mcphub --version: %v, %q; want \"mcphub %s\"", err, got, version)
	}

	// The shipped config, with the image's paths mapped to the built files.
	cfgPath := flagValue(img.cmd, "-c")
	cfgText, err := os.ReadFile(filepath.Join(ctx, img.contextCopies[cfgPath]))
	if err != nil {
		t.Fatal(err)
	}
	s := string(cfgText)
	for dst, file := range bins {
		s = strings.ReplaceAll(s, dst, file)
	}
	cfg := filepath.Join(t.TempDir(), "mcp_servers.yaml")
	if err := os.WriteFile(cfg, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	entrypoint := hostEntrypoint(t, img.entrypoint, hub)
	args := func(listen string) []string {
		a := append([]string{}, entrypoint...)
		for i := 0; i < len(img.cmd); i++ {
			switch img.cmd[i] {
			case "-c":
				a = append(a, "-c", cfg)
				i++
			case "--listen":
				a = append(a, "--listen", listen)
				i++
			default:
				a = append(a, img.cmd[i])
			}
		}
		return a
	}

	t.Run("no token", func(t *testing.T) {
		// Without a token the hub must refuse 0.0.0.0 (it exits before
		// it binds): the container cannot start open by mistake.
		p := start(t, args(flagValue(img.cmd, "--listen")), nil)
		code := p.wait(t, 20*time.Second)
		if code != 1 || !strings.Contains(p.stderr.String(), "insecure configuration") ||
			!strings.Contains(p.stderr.String(), "MCPHUB_API_TOKEN") {
			t.Errorf("without a token: exit %d, want 1 and an \"insecure configuration\" error naming MCPHUB_API_TOKEN:\n%s", code, p.stderr.String())
		}
	})

	t.Run("token", func(t *testing.T) {
		const token = "deploy-test-token-0123456789"
		p := start(t, args("127.0.0.1:0"), []string{"MCPHUB_API_TOKEN=" + token})
		base := "http://" + p.listenAddr(t, 30*time.Second)
		client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}}
		defer client.CloseIdleConnections()
		do := func(method, path, body string, auth bool) (int, string) {
			t.Helper()
			req, err := http.NewRequest(method, base+path, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if auth {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			if body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		// The health endpoint, which probes use, needs no token.
		deadline := time.Now().Add(30 * time.Second)
		for {
			code, body := do("GET", "/mcp_hub/health", "", false)
			if code == http.StatusOK && strings.Contains(body, `"example":true`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET /mcp_hub/health: %d %s; want the example server up\n%s", code, body, p.stderr.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		if code, body := do("GET", "/mcp_hub/tools", "", false); code != http.StatusUnauthorized {
			t.Errorf("GET /mcp_hub/tools without the token: %d %s; want 401", code, body)
		}
		call := `{"id":"call_1","type":"function","function":{"name":"example__add","arguments":{"a":2,"b":3}}}`
		code, body := do("POST", "/mcp_hub/call", call, true)
		if code != http.StatusOK || !strings.Contains(body, `"success":true`) || !strings.Contains(body, `"content":"5"`) {
			t.Errorf("POST /mcp_hub/call example__add: %d %s", code, body)
		}
		// The shipped config writes the audit log to stdout.
		deadline = time.Now().Add(10 * time.Second)
		for !strings.Contains(p.stdout.String(), `"outcome":"ok"`) {
			if time.Now().After(deadline) {
				t.Errorf("no audit line on stdout: %q", p.stdout.String())
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		client.CloseIdleConnections()

		// SIGTERM to the init (what docker stop sends to PID 1) stops the
		// hub gracefully within its 15 s, children included.
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.wait(t, 20*time.Second); code != 0 {
			t.Errorf("after SIGTERM: exit %d, want 0\n%s", code, p.stderr.String())
		}
		example := bins["/usr/local/bin/example-server"]
		deadline = time.Now().Add(5 * time.Second)
		for example != "" && len(processesOf(example)) > 0 {
			if time.Now().After(deadline) {
				t.Errorf("example-server still running after the hub stopped: pids %v", processesOf(example))
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// hostEntrypoint maps the image's ENTRYPOINT to this machine: the built hub
// for /usr/local/bin/mcphub, and tini when /usr/bin/tini is installed (it is
// a test peer); without tini, the hub alone.
func hostEntrypoint(t testing.TB, ep []string, hub string) []string {
	t.Helper()
	out := append([]string{}, ep...)
	out[len(out)-1] = hub
	if _, err := os.Stat(ep[0]); err != nil {
		if os.Getenv("MCPHUB_REQUIRE_PEERS") == "1" {
			t.Fatalf("MCPHUB_REQUIRE_PEERS=1 but the image's init %s is not installed; run ./scripts/install-test-peers.sh", ep[0])
		}
		t.Logf("%s is not installed: running the hub without it", ep[0])
		return []string{hub}
	}
	return out
}

// processesOf lists the pids whose executable is exe.
func processesOf(exe string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if target, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && target == exe {
			pids = append(pids, pid)
		}
	}
	return pids
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
}

// start runs args in a process group of its own, with the test's
// environment less MCPHUB_API_TOKEN and MCP_CONFIG_FILE, plus env; the group
// is killed when the test ends.
func start(t *testing.T, args []string, env []string) *proc {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MCPHUB_API_TOKEN=") && !strings.HasPrefix(kv, "MCP_CONFIG_FILE=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// tini is not PID 1 here: as a subreaper it reaps as it would be.
	cmd.Env = append(cmd.Env, "TINI_SUBREAPER=1")
	cmd.Env = append(cmd.Env, env...)
	p := &proc{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
	return p
}

func (p *proc) wait(t testing.TB, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		t.Fatalf("%s did not exit within %v\n%s", p.cmd.Path, d, p.stderr.String())
		return -1
	}
}

var listeningRE = regexp.MustCompile(`msg="mcphub listening" addr=(\S+)`)

func (p *proc) listenAddr(t testing.TB, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if m := listeningRE.FindStringSubmatch(p.stderr.String()); m != nil {
			return m[1]
		}
		select {
		case <-p.done:
			t.Fatalf("the hub exited: %v\n%s", p.cmd.ProcessState, p.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no \"mcphub listening\" line within %v\n%s", d, p.stderr.String())
		}
	}
}

// --- go install -----------------------------------------------------------

var moduleRE = regexp.MustCompile(`(?m)^module\s+(\S+)\s*$`)

// TestGoInstall publishes the module, as `git add -A` would commit it, to a
// module proxy on disk and runs `go install MODULE/cmd/mcphub@latest` in a
// fresh module cache: no replace directive or file outside the module may
// be needed, and --version prints the module version.
func TestGoInstall(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not on PATH")
	}
	ls := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	ls.Dir = root
	list, err := ls.Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := moduleRE.FindSubmatch(gomod)
	if m == nil {
		t.Fatal("go.mod has no module line")
	}
	mod := string(m[1])
	const version = "v0.0.1-deploytest.1"

	tmp := t.TempDir()
	proxy := filepath.Join(tmp, "proxy")
	vdir := filepath.Join(proxy, filepath.FromSlash(mod), "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(vdir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("list", []byte(version+"\n"))
	write(version+".info", fmt.Appendf(nil, `{"Version":%q,"Time":%q}`, version, time.Now().UTC().Format(time.RFC3339)))
	write(version+".mod", gomod)
	zf, err := os.Create(filepath.Join(vdir, version+".zip"))
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(zf)
	for _, rel := range strings.Split(strings.TrimRight(string(list), "\x00"), "\x00") {
		st, err := os.Lstat(filepath.Join(root, rel))
		if err != nil || !st.Mode().IsRegular() {
			continue // deleted in the work tree, or a symlink (modules hold neither)
		}
		data, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		w, err := zw.Create(mod + "@" + version + "/" + rel)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zf.Close(); err != nil {
		t.Fatal(err)
	}

	// Dependencies come from this machine's module cache, which is laid out
	// as a proxy; nothing goes to the network. CGO_ENABLED=0 and -trimpath
	// only let the build reuse what TestDockerBuild compiled.
	modcache := strings.TrimSpace(goEnv(t, "GOMODCACHE"))
	gobin := filepath.Join(tmp, "bin")
	cmd := exec.Command("go", "install", mod+"/cmd/mcphub@latest")
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(),
		"GOBIN="+gobin,
		"GOMODCACHE="+filepath.Join(tmp, "modcache"),
		"GOPROXY=file://"+filepath.ToSlash(proxy)+",file://"+filepath.ToSlash(filepath.Join(modcache, "cache", "download")),
		"GOFLAGS=-modcacherw -trimpath",
		// No checksum database offline: the module's go.sum still
		// verifies every dependency it lists.
		"GOSUMDB=off",
		"GOTOOLCHAIN=local", "CGO_ENABLED=0", "GOWORK=off",
	)
	buildMu.Lock()
	out, err := cmd.CombinedOutput()
	buildMu.Unlock()
	if err != nil {
		t.Fatalf("go install %s/cmd/mcphub@latest: %v\n%s", mod, err, out)
	}
	out, err = exec.Command(filepath.Join(gobin, "mcphub"), "--version").Output()
	if err != nil || string(out) != "mcphub "+version+"\n" {
		t.Errorf("mcphub --version after go install: %v, %q; want \"mcphub %s\"", err, out, version)
	}
}

func goEnv(t testing.TB, key string) string {
	t.Helper()
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", key, err)
	}
	return string(out)
}

// --- the systemd unit -----------------------------------------------------

// unitKeys reads a unit file's Key=Value lines (the last one wins).
func unitKeys(t testing.TB, text string) map[string]string {
	t.Helper()
	keys := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("unit line %q is not Key=Value", line)
		}
		keys[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return keys
}

// TestSystemdUnit runs systemd-analyze verify on deploy/mcphub.service (it
// needs no running systemd; ExecStart is pointed at an executable that
// exists here) and checks the choices the hub depends on.
func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "deploy", "mcphub.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	keys := unitKeys(t, unit)
	for k, want := range map[string]string{
		"Type":       "simple", // the hub does not speak sd_notify
		"KillMode":   "mixed",  // SIGTERM to the hub only: it stops its children itself
		"ExecReload": "/bin/kill -HUP $MAINPID",
		"ExecStart":  "/usr/local/bin/mcphub -c /etc/mcphub/mcp_servers.yaml",
	} {
		if keys[k] != want {
			t.Errorf("%s=%q, want %q", k, keys[k], want)
		}
	}
	// The hub stops within 15 s; systemd must not SIGKILL it before.
	if d, err := time.ParseDuration(keys["TimeoutStopSec"]); err != nil || d <= 15*time.Second {
		t.Errorf("TimeoutStopSec=%q: want more than the hub's 15 s", keys["TimeoutStopSec"])
	}
	// Node.js, which many stdio servers run on, needs W+X memory for its JIT.
	if v := keys["MemoryDenyWriteExecute"]; v == "yes" || v == "true" {
		t.Error("MemoryDenyWriteExecute=yes breaks Node.js stdio servers")
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		missingPeer(t, "systemd-analyze is not installed (Debian's systemd)")
	}
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	local := strings.ReplaceAll(unit, "ExecStart=/usr/local/bin/mcphub ", "ExecStart="+self+" ")
	file := filepath.Join(dir, "mcphub.service")
	if err := os.WriteFile(file, []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(analyze, "verify", "--man=no", file)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The exposure score, for the record (systemd 252+ reads a unit file
	// offline).
	cmd = exec.Command(analyze, "security", "--offline=true", "--no-pager", file)
	cmd.Dir = dir
	if out, err := cmd.Output(); err == nil {
		if i := bytes.Index(out, []byte("Overall exposure level")); i >= 0 {
			t.Logf("systemd-analyze security: %s", bytes.TrimSpace(bytes.SplitN(out[i:], []byte("\n"), 2)[0]))
		}
	}
}
