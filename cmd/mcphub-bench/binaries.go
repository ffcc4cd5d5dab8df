package main

import (
	"context"

	"github.com/mcphub/mcphub/internal/repobin"
)

// binaries are the programs a run starts: the hub, the example server,
// cmd/dep-floor (the libraries the hub is built on alone, for the RSS floor)
// and cmd/proxy-floor (a bare net/http pass-through, the reference for CPU and
// latency).
type binaries struct {
	hub, example, floor, proxyFloor string
	// how says where each came from, for the report.
	how string
}

// findBinaries resolves the binaries (see repobin.Resolve): the -mcphub,
// -example, -floor and -proxy-floor flags when set (in b), else ./bin when
// fresh, else a go build into dir. The proxy floor is resolved only when
// withProxy: only the floor scenarios run it.
func findBinaries(ctx context.Context, b binaries, withProxy bool, dir string, logf func(string, ...any)) (binaries, error) {
	bins := []repobin.Binary{{Name: "mcphub", Path: &b.hub}, {Name: "example-server", Path: &b.example},
		{Name: "dep-floor", Path: &b.floor}}
	if withProxy {
		bins = append(bins, repobin.Binary{Name: "proxy-floor", Path: &b.proxyFloor})
	}
	how, err := repobin.Resolve(ctx, dir, logf, bins...)
	b.how = how
	return b, err
}
