//go:build !linux

package main

import (
	"io"
	"os"
)

// terminalWidth reports whether w is a terminal; the width is unknown (0)
// here, so tables fall back to their fixed limits.
func terminalWidth(w io.Writer) (width int, ok bool) {
	f, isFile := w.(*os.File)
	if !isFile {
		return 0, false
	}
	st, err := f.Stat()
	return 0, err == nil && st.Mode()&os.ModeCharDevice != 0
}
