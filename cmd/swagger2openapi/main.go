// Command swagger2openapi writes mcphub's OpenAPI 3 document from the
// Swagger 2.0 one swag generates (see internal/swagger2openapi):
//
//	swagger2openapi -o openapi.yaml docs/swagger.json
//
// `make docs` runs it after `swag init`.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/mcphub/mcphub/internal/swagger2openapi"
)

func main() {
	out := flag.String("o", "openapi.yaml", "where to write the OpenAPI 3 document")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [-o openapi.yaml] docs/swagger.json\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *out); err != nil {
		fmt.Fprintln(os.Stderr, "swagger2openapi:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	swagger, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	doc, err := swagger2openapi.Convert(swagger)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	return os.WriteFile(out, doc, 0o644)
}
