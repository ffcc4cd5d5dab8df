package main

import (
	"context"

	"github.com/mcphub/mcphub/internal/repobin"
)

// binaries are the three programs a run starts.
type binaries struct {
	hub, example, fault string
	how                 string // where each came from, for the report
}

// findBinaries resolves the binaries (see repobin.Resolve): a flag when
// set, else ./bin when fresh, else a go build into dir.
func findBinaries(ctx context.Context, hubFlag, exampleFlag, faultFlag, dir string, logf func(string, ...any)) (binaries, error) {
	b := binaries{hub: hubFlag, example: exampleFlag, fault: faultFlag}
	how, err := repobin.Resolve(ctx, dir, logf, repobin.Binary{Name: "mcphub", Path: &b.hub},
		repobin.Binary{Name: "example-server", Path: &b.example}, repobin.Binary{Name: "fault-server", Path: &b.fault})
	b.how = how
	return b, err
}
