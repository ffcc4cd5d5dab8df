package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestFind(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	envWith := func(v string) func(string) (string, bool) {
		return func(k string) (string, bool) { return v, k == EnvConfigFile }
	}
	tests := []struct {
		name     string
		files    []string // created in dir
		explicit []string
		env      func(string) (string, bool)
		want     []string // relative to dir
		found    bool
		err      bool
	}{
		{name: "nothing", env: noEnv},
		{name: "yaml first", files: []string{"mcp_servers.yaml", "mcp_servers.json", "config/mcp_servers.yaml"}, env: noEnv,
			want: []string{"mcp_servers.yaml"}, found: true},
		{name: "json next", files: []string{"mcp_servers.json", "config/mcp_servers.yaml"}, env: noEnv,
			want: []string{"mcp_servers.json"}, found: true},
		{name: "config dir yaml", files: []string{"config/mcp_servers.yaml", "config/mcp_servers.json"}, env: noEnv,
			want: []string{"config/mcp_servers.yaml"}, found: true},
		{name: "config dir json", files: []string{"config/mcp_servers.json"}, env: noEnv,
			want: []string{"config/mcp_servers.json"}, found: true},
		{name: "env wins over search", files: []string{"mcp_servers.yaml", "other.json"}, env: envWith("other.json"),
			want: []string{"other.json"}, found: true},
		{name: "env list", files: []string{"a.yaml", "b.json"}, env: envWith("a.yaml" + string(os.PathListSeparator) + "b.json"),
			want: []string{"a.yaml", "b.json"}, found: true},
		{name: "empty env is unset", files: []string{"mcp_servers.json"}, env: envWith(""),
			want: []string{"mcp_servers.json"}, found: true},
		{name: "explicit wins over env", files: []string{"x.yaml", "y.yaml"}, explicit: []string{"y.yaml", "x.yaml"},
			env: envWith("x.yaml"), want: []string{"y.yaml", "x.yaml"}, found: true},
		{name: "explicit missing", files: []string{"mcp_servers.yaml"}, explicit: []string{"nope.yaml"}, env: noEnv, err: true},
		{name: "env missing", files: []string{"mcp_servers.yaml"}, env: envWith("nope.yaml"), err: true},
		{name: "explicit directory", files: []string{"config/mcp_servers.yaml"}, explicit: []string{"config"}, env: noEnv, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tt.files {
				writeFile(t, dir, f, "{}")
			}
			got, found, err := Find(tt.explicit, tt.env, dir)
			if tt.err {
				if err == nil {
					t.Fatalf("want an error, got %v", got)
				}
				if tt.name != "explicit directory" && !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("error does not wrap fs.ErrNotExist: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, w := range tt.want {
				want = append(want, filepath.Join(dir, w))
			}
			if found != tt.found || !reflect.DeepEqual(got, want) {
				t.Errorf("Find = %v, %v; want %v, %v", got, found, want, tt.found)
			}
		})
	}
}

func TestFindWorkingDirectory(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "mcp_servers.json", "{}")
	t.Chdir(dir)
	got, found, err := Find(nil, func(string) (string, bool) { return "", false }, "")
	if err != nil || !found || len(got) != 1 || filepath.Base(got[0]) != "mcp_servers.json" || !filepath.IsAbs(got[0]) {
		t.Errorf("Find = %v, %v, %v", got, found, err)
	}
	// The files Find returns load.
	if _, err := testLoader(nil).Load(t.Context(), got); err != nil {
		t.Error(err)
	}
}
