package procset

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Stat is what the tools read of /proc/<pid>/stat.
type Stat struct {
	State byte // R, S, D, Z, ...
	PPID  int
	// CPUTicks is the CPU time used, user and system, in clock ticks (see
	// ClockTicks).
	CPUTicks uint64
}

// ReadStat reads pid's /proc/<pid>/stat.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return Stat{}, err
	}
	st, err := parseStat(b)
	if err != nil {
		return Stat{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return st, nil
}

// parseStat parses a /proc/<pid>/stat line.
func parseStat(b []byte) (Stat, error) {
	// "pid (comm) S ppid ...": comm may hold spaces and ')', so fields are
	// counted after the last ')'. Field 3 is the state, 4 the parent, 14
	// utime, 15 stime.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Stat{}, errors.New("unexpected format")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return Stat{}, fmt.Errorf("only %d fields", len(f)+2)
	}
	ppid, err0 := strconv.Atoi(f[1])
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err0, err1, err2); err != nil {
		return Stat{}, err
	}
	return Stat{State: f[0][0], PPID: ppid, CPUTicks: utime + stime}, nil
}

// ReadStatus reads the given numeric fields of /proc/<pid>/status (VmRSS,
// RssAnon, RssFile in kB, Threads, ...). A field it lacks is an error: a
// zombie, for one, has no VmRSS.
func ReadStatus(pid int, fields ...string) (map[string]int64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(fields))
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || !slices.Contains(fields, k) {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("/proc/%d/status: %s: %w", pid, k, err)
		}
		out[k] = n
	}
	for _, f := range fields {
		if _, ok := out[f]; !ok {
			return nil, fmt.Errorf("/proc/%d/status: no %s", pid, f)
		}
	}
	return out, nil
}

// CountFDs counts pid's open file descriptors.
func CountFDs(pid int) (int, error) {
	fds, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "fd"))
	return len(fds), err
}

// Comm is the command name of pid, for messages ("?" when unreadable).
func Comm(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// Children lists pid's child processes with their states (a 'Z' is one
// pid has not reaped).
func Children(pid int) map[int]byte {
	out := map[int]byte{}
	for _, child := range pids() {
		if st, err := ReadStat(child); err == nil && st.PPID == pid {
			out[child] = st.State
		}
	}
	return out
}

// markedPIDs lists the live (not zombie) processes other than this one
// whose environment holds marker ("NAME=value").
func markedPIDs(marker string) []int {
	want := []byte(marker)
	var out []int
	for _, pid := range pids() {
		if pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
		if err != nil {
			continue // gone, or not ours to read
		}
		for kv := range bytes.SplitSeq(env, []byte{0}) {
			if bytes.Equal(kv, want) {
				if st, err := ReadStat(pid); err == nil && st.State != 'Z' {
					out = append(out, pid)
				}
				break
			}
		}
	}
	return out
}

// pids lists the processes in /proc.
func pids() []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// ClockTicks is sysconf(_SC_CLK_TCK), the unit of Stat.CPUTicks: glibc
// reads it from the AT_CLKTCK entry of the auxiliary vector, and so does
// this. It falls back to 100 (Linux's USER_HZ everywhere) and says so in
// source.
func ClockTicks() (hz int64, source string) {
	const atClkTck = 17
	b, err := os.ReadFile("/proc/self/auxv")
	if err == nil {
		for ; len(b) >= 16; b = b[16:] { // (type, value) pairs of 64-bit words
			typ, val := binary.NativeEndian.Uint64(b), binary.NativeEndian.Uint64(b[8:])
			if typ == atClkTck && val > 0 {
				return int64(val), "AT_CLKTCK"
			}
			if typ == 0 {
				break
			}
		}
	}
	return 100, "assumed (AT_CLKTCK unreadable)"
}
