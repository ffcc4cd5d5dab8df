package faultserver

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ControlEnv names the environment variable cmd/fault-server reads its
// control file's path from when --control is not given.
const ControlEnv = "FAULTSERVER_CONTROL"

// FileControl returns a Faults function that reads the control file at
// path each time it is called: a missing or empty file means no faults. A
// file that does not parse counts as no faults and is passed to report
// (when not nil).
func FileControl(path string, report func(error)) func() Spec {
	return func() Spec {
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err == nil {
			var spec Spec
			if spec, err = ParseSpec(string(b)); err == nil {
				return spec
			}
		}
		if report != nil {
			report(fmt.Errorf("control file %s: %w", path, err))
		}
		return nil
	}
}

// WriteControl replaces the control file at path with spec, atomically: a
// server reading it at the same moment sees the old faults or the new ones.
func WriteControl(path string, spec Spec) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, werr := tmp.WriteString(spec.String() + "\n")
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}
