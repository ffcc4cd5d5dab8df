package api_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"

	"github.com/mcphub/mcphub/api"
	"github.com/mcphub/mcphub/internal/swagger2openapi"
)

// The generated API documents, relative to this package.
const (
	openAPIFile = "../openapi.yaml"
	swaggerFile = "../docs/swagger.json"
)

// loadSpec reads and validates openapi.yaml.
func loadSpec(t testing.TB) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(openAPIFile)
	if err != nil {
		t.Fatalf("%s: %v", openAPIFile, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("%s is not valid OpenAPI: %v", openAPIFile, err)
	}
	return doc
}

// ginParam matches a gin path parameter (:id, *rest).
var ginParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

// routedOperations lists the REST routes of the real router as "METHOD
// /path/{param}", sorted.
func routedOperations(t *testing.T) []string {
	t.Helper()
	engine, ok := api.NewRouter(panicHub{}, api.Options{Logger: quiet}).(*gin.Engine)
	if !ok {
		t.Fatal("api.NewRouter does not return a *gin.Engine: walk its routes another way")
	}
	var ops []string
	for _, r := range engine.Routes() {
		if strings.HasPrefix(r.Path, "/mcp_hub/") || r.Path == "/readyz" {
			ops = append(ops, r.Method+" "+ginParam.ReplaceAllString(r.Path, "{$1}"))
		}
	}
	slices.Sort(ops)
	return ops
}

func specOperations(doc *openapi3.T) []string {
	var ops []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, method+" "+path)
		}
	}
	slices.Sort(ops)
	return ops
}

// TestSpecMatchesRoutes checks the documents against the router: every
// route under /mcp_hub is an operation of openapi.yaml and of
// docs/swagger.json (what Swagger UI shows), and every documented
// operation is routed.
func TestSpecMatchesRoutes(t *testing.T) {
	routed := routedOperations(t)
	if len(routed) == 0 {
		t.Fatal("the router has no /mcp_hub routes")
	}
	doc := loadSpec(t)
	raw, err := os.ReadFile(swaggerFile)
	if err != nil {
		t.Fatal(err)
	}
	var swagger openapi2.T
	if err := swagger.UnmarshalJSON(raw); err != nil {
		t.Fatalf("%s: %v", swaggerFile, err)
	}
	var swaggerOps []string
	for path, item := range swagger.Paths {
		for method := range item.Operations() {
			swaggerOps = append(swaggerOps, method+" "+path)
		}
	}
	slices.Sort(swaggerOps)
	for name, documented := range map[string][]string{openAPIFile: specOperations(doc), swaggerFile: swaggerOps} {
		for _, op := range routed {
			if !slices.Contains(documented, op) {
				t.Errorf("%s is routed but %s does not document it: annotate the handler and run make docs", op, name)
			}
		}
		for _, op := range documented {
			if !slices.Contains(routed, op) {
				t.Errorf("%s documents %s, which is not routed", name, op)
			}
		}
	}
	for _, op := range specOperations(doc) {
		method, path, _ := strings.Cut(op, " ")
		o := doc.Paths.Value(path).GetOperation(method)
		if o.OperationID == "" || o.Summary == "" || len(o.Tags) == 0 {
			t.Errorf("%s: operationId %q, summary %q, tags %v: annotate @ID, @Summary and @Tags", op, o.OperationID, o.Summary, o.Tags)
		}
		for code, r := range o.Responses.Map() {
			if status, err := strconv.Atoi(code); err == nil && status >= 400 {
				if mt := r.Value.Content.Get("application/json"); mt == nil || mt.Schema.Ref != "#/components/schemas/ErrorResponse" {
					t.Errorf("%s: the %s answer is not an application/json ErrorResponse", op, code)
				}
			}
		}
	}

	// The served documents are the generated ones.
	spec, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	ts := serveHandler(t, api.NewRouter(panicHub{}, api.Options{Logger: quiet, OpenAPI: spec}))
	e := &env{url: ts}
	if r := e.do(t, http.MethodGet, "/openapi.yaml", nil); r.status != http.StatusOK || !bytes.Equal(r.body, spec) {
		t.Errorf("GET /openapi.yaml: %d, %d bytes; want 200 and openapi.yaml (%d bytes)", r.status, len(r.body), len(spec))
	}
	var served map[string]any
	e.json(t, http.MethodGet, "/swagger/doc.json", "", http.StatusOK, &served)
	if paths, _ := served["paths"].(map[string]any); len(paths) != len(swagger.Paths) {
		t.Errorf("/swagger/doc.json describes %d paths, docs/swagger.json %d", len(paths), len(swagger.Paths))
	}
}

func serveHandler(t *testing.T, h http.Handler) string {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}

// TestOpenAPIConverted checks that openapi.yaml is what the converter makes
// of docs/swagger.json, without running swag.
func TestOpenAPIConverted(t *testing.T) {
	swagger, err := os.ReadFile(swaggerFile)
	if err != nil {
		t.Fatal(err)
	}
	got, err := swagger2openapi.Convert(swagger)
	if err != nil {
		t.Fatalf("converting %s: %v", swaggerFile, err)
	}
	want, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	if d := firstDiff(got, want); d != "" {
		t.Errorf("%s is not the conversion of %s (run make docs): %s", openAPIFile, swaggerFile, d)
	}
	again, err := swagger2openapi.Convert(swagger)
	if err != nil || !bytes.Equal(again, got) {
		t.Errorf("converting twice gave different documents (err %v)", err)
	}
}

// TestDocsUpToDate runs `make docs` into a temporary directory and compares
// what it writes with the committed documents: annotations changed without
// make docs fail here.
func TestDocsUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs swag (-short)")
	}
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make is not installed: cannot run make docs")
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		// An outer make's jobserver is not ours.
		return strings.HasPrefix(kv, "MAKEFLAGS=") || strings.HasPrefix(kv, "MFLAGS=") || strings.HasPrefix(kv, "MAKELEVEL=")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// Only a swag that cannot run at all (its module not downloadable, say)
	// skips the test; a swag that runs and fails is a failure.
	version := exec.CommandContext(ctx, goBin, "tool", "swag", "--version")
	version.Dir, version.Env = root, env
	if out, err := version.CombinedOutput(); err != nil {
		t.Skipf("go tool swag cannot run (%v): %s", err, out)
	}

	out := t.TempDir()
	docsOut := filepath.Join(out, "docs") // swag names the package after the directory
	openAPIOut := filepath.Join(out, "openapi.yaml")
	cmd := exec.CommandContext(ctx, makeBin, "--no-print-directory", "-C", root, "docs",
		"GO="+goBin, "DOCS_OUT="+docsOut, "OPENAPI_OUT="+openAPIOut)
	cmd.Env = env
	if log, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make docs: %v\n%s", err, log)
	}
	for generated, committed := range map[string]string{
		filepath.Join(docsOut, "docs.go"):      "../docs/docs.go",
		filepath.Join(docsOut, "swagger.json"): "../docs/swagger.json",
		filepath.Join(docsOut, "swagger.yaml"): "../docs/swagger.yaml",
		openAPIOut:                             openAPIFile,
	} {
		got, err := os.ReadFile(generated)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(committed)
		if err != nil {
			t.Fatal(err)
		}
		if d := firstDiff(got, want); d != "" {
			t.Errorf("%s is not what make docs writes (run make docs): %s", strings.TrimPrefix(committed, "../"), d)
		}
	}
}

// firstDiff describes the first line where the committed document differs
// from the generated one, or is "" if they are equal.
func firstDiff(generated, committed []byte) string {
	if bytes.Equal(generated, committed) {
		return ""
	}
	g, c := strings.Split(string(generated), "\n"), strings.Split(string(committed), "\n")
	for i := range max(len(g), len(c)) {
		if i >= len(g) || i >= len(c) || g[i] != c[i] {
			return fmt.Sprintf("line %d is\n\t%q\nand should be\n\t%q", i+1, lineAt(c, i), lineAt(g, i))
		}
	}
	return "they differ"
}

func lineAt(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(the end)"
}
