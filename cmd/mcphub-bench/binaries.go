package main

import (
	"context"

	"github.com/mcphub/mcphub/internal/repobin"
)

// binaries are the two programs a run starts.
type binaries struct {
	hub, example string
	// how says where each came from, for the report.
	how string
}

// findBinaries resolves the binaries (see repobin.Resolve): the -mcphub
// and -example flags when set, else ./bin when fresh, else a go build into
// dir.
func findBinaries(ctx context.Context, hubFlag, exampleFlag, dir string, logf func(string, ...any)) (binaries, error) {
	b := binaries{hub: hubFlag, example: exampleFlag}
	how, err := repobin.Resolve(ctx, dir, logf,
		repobin.Binary{Name: "mcphub", Path: &b.hub}, repobin.Binary{Name: "example-server", Path: &b.example})
	b.how = how
	return b, err
}
