package main

import (
	"runtime/debug"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	rev := "ea90b3e4ccc6f00dfeed0123456789abcdef0123"
	info := func(main string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Main: debug.Module{Version: main}}
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	for _, tc := range []struct {
		name, stamped string
		info          *debug.BuildInfo
		want          string
	}{
		{"no build info", "dev", nil, "dev"},
		{"go install module@version", "dev", info("v1.2.3"), "v1.2.3"},
		{"make build in a clean checkout", "v0.3.0-4-gea90b3e", info("(devel)", "vcs.revision", rev, "vcs.modified", "false"), "v0.3.0-4-gea90b3e (ea90b3e4ccc6)"},
		{"with local changes", "v0.3.0", info("(devel)", "vcs.revision", rev, "vcs.modified", "true"), "v0.3.0 (ea90b3e4ccc6, modified)"},
		{"a pseudo-version names the commit once", "dev", info("v0.0.0-20261121223107-ea90b3e4ccc6+dirty", "vcs.revision", rev, "vcs.modified", "true"),
			"v0.0.0-20261121223107-ea90b3e4ccc6+dirty"},
		{"no vcs stamp (-buildvcs=false)", "dev", info("(devel)"), "dev"},
	} {
		if got := formatVersion(tc.stamped, tc.info); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
