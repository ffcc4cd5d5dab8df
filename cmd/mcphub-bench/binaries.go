package main

import (
	"context"

	"github.com/mcphub/mcphub/internal/repobin"
)

// binaries are the programs a run starts: the hub, the example server, and
// cmd/dep-floor (the libraries the hub is built on alone, for the RSS floor).
type binaries struct {
	hub, example, floor string
	// how says where each came from, for the report.
	how string
}

// findBinaries resolves the binaries (see repobin.Resolve): the -mcphub,
// -example and -floor flags when set, else ./bin when fresh, else a go build into
// dir.
func findBinaries(ctx context.Context, hubFlag, exampleFlag, floorFlag, dir string, logf func(string, ...any)) (binaries, error) {
	b := binaries{hub: hubFlag, example: exampleFlag, floor: floorFlag}
	how, err := repobin.Resolve(ctx, dir, logf,
		repobin.Binary{Name: "mcphub", Path: &b.hub}, repobin.Binary{Name: "example-server", Path: &b.example},
		repobin.Binary{Name: "dep-floor", Path: &b.floor})
	b.how = how
	return b, err
}
