package api_test

import (
	"bytes"
	"io/fs"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	swaggerFiles "github.com/swaggo/files/v2"

	"github.com/mcphub/mcphub/api"
)

// TestSwaggerUIAssets serves Swagger UI's files from the embedded copy:
// byte for byte, with their content types; writes and unknown files are
// refused.
func TestSwaggerUIAssets(t *testing.T) {
	e := startHub(t, api.Options{})
	for path, ctype := range map[string]string{
		"swagger-ui-bundle.js":            "application/javascript",
		"swagger-ui-standalone-preset.js": "application/javascript",
		"swagger-ui.css":                  "text/css; charset=utf-8",
		"favicon-32x32.png":               "image/png",
	} {
		want, err := fs.ReadFile(swaggerFiles.FS, path)
		if err != nil {
			t.Fatal(err)
		}
		r := e.send(t, http.MethodGet, "/swagger/"+path, "")
		if r.status != http.StatusOK || r.header.Get("Content-Type") != ctype || !bytes.Equal(r.body, want) {
			t.Errorf("%s: %d %q, %d bytes; want 200 %q, the embedded %d bytes",
				path, r.status, r.header.Get("Content-Type"), len(r.body), ctype, len(want))
		}
	}
	wantStatus(t, e.send(t, http.MethodGet, "/swagger/index.html", ""), http.StatusOK, "swagger-ui-bundle.js")
	if r := e.send(t, http.MethodGet, "/swagger/no-such-file.js", ""); r.status != http.StatusNotFound {
		t.Errorf("unknown file: %d, want 404", r.status)
	}
	if r := e.send(t, http.MethodPut, "/swagger/swagger-ui.css", "x"); r.status < 400 {
		t.Errorf("PUT: %d, want it refused", r.status)
	}
	if r := e.send(t, http.MethodGet, "/swagger/swagger-ui.css", ""); r.status != http.StatusOK || len(r.body) < 1000 {
		t.Errorf("swagger-ui.css after the PUT: %d, %d bytes", r.status, len(r.body))
	}
}

// TestNoSwaggerFilesV1 keeps swaggo/files v1 out of the binary: its init
// copies 9 MB of assets into memory, about 18 MB of RSS in every hub.
func TestNoSwaggerFilesV1(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/mcphub/mcphub/cmd/mcphub").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for dep := range strings.Lines(string(out)) {
		if strings.TrimSpace(dep) == "github.com/swaggo/files" {
			t.Fatal("cmd/mcphub depends on github.com/swaggo/files (v1); serve Swagger UI from swaggo/files/v2 (internal/swaggerui)")
		}
	}
}
