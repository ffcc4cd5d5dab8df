package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// EnvConfigFile names the environment variable that lists config files
// when none are given explicitly.
const EnvConfigFile = "MCP_CONFIG_FILE"

// SearchPaths returns the files Find tries, in order, when no file is
// named explicitly or by MCP_CONFIG_FILE: paths relative to the search
// directory. Messages that say where the hub looked are built from it.
func SearchPaths() []string {
	return []string{
		"mcp_servers.yaml",
		"mcp_servers.json",
		filepath.Join("config", "mcp_servers.yaml"),
		filepath.Join("config", "mcp_servers.json"),
	}
}

// Find decides which config files to load:
//
//  1. explicit (the -c flags), if any;
//  2. else MCP_CONFIG_FILE, one path or several joined by the OS path list
//     separator (":" on Unix), merged in that order;
//  3. else the first existing of mcp_servers.yaml, mcp_servers.json,
//     config/mcp_servers.yaml and config/mcp_servers.json in dir.
//
// Relative paths are taken relative to dir ("" means the working
// directory); the returned paths are absolute. found is false when the
// search finds nothing, and the caller then uses Loader.Default. A file named
// explicitly or by MCP_CONFIG_FILE that does not exist is an error
// (wrapping fs.ErrNotExist). lookupEnv nil means os.LookupEnv.
func Find(explicit []string, lookupEnv func(string) (string, bool), dir string) (files []string, found bool, err error) {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	if dir, err = filepath.Abs(dir); err != nil { // "" becomes the working directory
		return nil, false, fmt.Errorf("config: %w", err)
	}
	named, source := explicit, "config file"
	if len(named) == 0 {
		if v, ok := lookupEnv(EnvConfigFile); ok && strings.TrimSpace(v) != "" {
			named, source = filepath.SplitList(v), EnvConfigFile
		}
	}
	if len(named) > 0 {
		for _, name := range named {
			path := absIn(dir, strings.TrimSpace(name))
			if err := checkFile(path); err != nil {
				return nil, false, fmt.Errorf("config: %s %s: %w", source, name, err)
			}
			files = append(files, path)
		}
		return files, true, nil
	}
	for _, name := range SearchPaths() {
		path := absIn(dir, name)
		err := checkFile(path)
		if err == nil {
			return []string{path}, true, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			// An unreadable candidate is not the same as none: say so
			// rather than silently running the default config.
			return nil, false, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	return nil, false, nil
}

func absIn(dir, name string) string {
	if filepath.IsAbs(name) {
		return filepath.Clean(name)
	}
	return filepath.Join(dir, name)
}

// checkFile returns nil if path is an existing regular file (or symlink to one).
func checkFile(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() {
		return errors.New("is a directory")
	}
	return nil
}
