package main

import (
	"io"
	"os"
	"syscall"
	"unsafe"
)

// terminalWidth reports whether w is a terminal, and its width in columns
// (0 when unknown). The ioctl tells a terminal from /dev/null, which is a
// character device too.
func terminalWidth(w io.Writer) (width int, ok bool) {
	f, isFile := w.(*os.File)
	if !isFile {
		return 0, false
	}
	var ws struct{ row, col, xpixel, ypixel uint16 }
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), uintptr(syscall.TIOCGWINSZ), uintptr(unsafe.Pointer(&ws))); errno != 0 {
		return 0, false
	}
	return int(ws.col), true
}
