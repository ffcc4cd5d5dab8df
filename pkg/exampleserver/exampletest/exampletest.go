// Package exampletest runs a test package around the example server, as
// httptest does around a handler: Main builds cmd/example-server once for
// the package's stdio tests and, after them, fails the run on leaked
// goroutines.
package exampletest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// fixturePump is a goroutine of mcp-go's Streamable HTTP *server* that
// outlives its session: it belongs to the test servers, not to the code
// under test, and is the only goroutine the leak check ignores.
const fixturePump = "github.com/mark3labs/mcp-go/server.(*StreamableHTTPServer).startListeningPump.func1"

// Main is a TestMain: it stores the example server binary's path in *bin,
// runs the tests, and exits non-zero if they failed or leaked goroutines.
func Main(m *testing.M, bin *string) {
	dir, err := os.MkdirTemp("", "exampletest")
	if err != nil {
		panic(err)
	}
	*bin = filepath.Join(dir, "example-server")
	out, err := exec.Command("go", "build", "-o", *bin, "github.com/mcphub/mcphub/cmd/example-server").CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		panic("building example server: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction(fixturePump)); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}
