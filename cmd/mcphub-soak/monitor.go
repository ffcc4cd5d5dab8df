package main

import (
	"sync"
	"time"

	"github.com/mcphub/mcphub/internal/procset"
)

// monitorEvery is how often the monitor samples the hub.
const monitorEvery = 200 * time.Millisecond

// monitor watches the hub process during the load: it samples its RSS,
// threads and open files from /proc, files an UNEXPECTED outcome the first
// time RSS goes over the bound, and ends the load if the hub dies.
type monitor struct {
	hub      *procset.Proc
	st       *stats
	boundKB  int64
	stopLoad func()
	quit     chan struct{}
	done     chan struct{}
	once     sync.Once

	mu                sync.Mutex
	first, peak, last procSample
	samples           int
	over, dead        bool
}

func startMonitor(hub *procset.Proc, st *stats, boundKB int64, stopLoad func()) *monitor {
	m := &monitor{hub: hub, st: st, boundKB: boundKB, stopLoad: stopLoad, quit: make(chan struct{}), done: make(chan struct{})}
	m.sample()
	go func() {
		defer close(m.done)
		t := time.NewTicker(monitorEvery)
		defer t.Stop()
		for {
			select {
			case <-m.quit:
				m.sample()
				return
			case <-t.C:
				if !m.sample() {
					return
				}
			}
		}
	}()
	return m
}

// sample takes one sample; false once the hub has died.
func (m *monitor) sample() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dead {
		return false
	}
	if m.hub.Exited() {
		m.dead = true
		m.st.unexpectedEvent("", "", newProblem("hub process died", "%v", m.hub.ExitError()))
		m.stopLoad()
		return false
	}
	s, err := sampleProc(m.hub.PID())
	if err != nil {
		return true // it may be exiting: the next sample says
	}
	if m.samples == 0 {
		m.first = s
	}
	m.samples++
	m.last = s
	m.peak.RSSKB = max(m.peak.RSSKB, s.RSSKB)
	m.peak.Threads = max(m.peak.Threads, s.Threads)
	m.peak.FDs = max(m.peak.FDs, s.FDs)
	if s.RSSKB > m.boundKB && !m.over {
		m.over = true
		m.st.unexpectedEvent("", "", newProblem("hub RSS over the bound", "%.1f MiB > %d MiB", float64(s.RSSKB)/1024, m.boundKB>>10))
	}
	return true
}

// stop ends the sampling after a last sample; it may be called again.
func (m *monitor) stop() {
	m.once.Do(func() { close(m.quit) })
	<-m.done
}

func (m *monitor) died() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dead
}

// hubReport is what the report says of the hub process.
type hubReport struct {
	PID          int      `json:"pid"`
	RSSStartKB   int64    `json:"rss_start_kb"`
	RSSPeakKB    int64    `json:"rss_peak_kb"`
	RSSEndKB     int64    `json:"rss_end_kb"`
	RSSBoundKB   int64    `json:"rss_bound_kb"`
	ThreadsStart int64    `json:"threads_start"`
	ThreadsPeak  int64    `json:"threads_peak"`
	ThreadsEnd   int64    `json:"threads_end"`
	FDsStart     int      `json:"fds_start"`
	FDsPeak      int      `json:"fds_peak"`
	FDsEnd       int      `json:"fds_end"`
	Samples      int      `json:"samples"`
	ChildrenEnd  int      `json:"children_end"` // its child processes after the load (the two stdio servers)
	Died         bool     `json:"died"`
	Exit         string   `json:"exit"`
	LogErrors    int      `json:"log_error_lines"`
	LogWarnings  int      `json:"log_warn_lines"`
	FirstErrors  []string `json:"first_error_lines,omitempty"`
	// ErrorsByMsg counts the ERROR lines by message (and server).
	ErrorsByMsg map[string]int `json:"error_lines_by_msg,omitempty"`
}

func (m *monitor) report(pid int, boundKB int64, children int, exit string, log *logSink) hubReport {
	m.mu.Lock()
	defer m.mu.Unlock()
	errs, warns, first, byMsg := log.counts()
	return hubReport{
		PID: pid, RSSStartKB: m.first.RSSKB, RSSPeakKB: m.peak.RSSKB, RSSEndKB: m.last.RSSKB, RSSBoundKB: boundKB,
		ThreadsStart: m.first.Threads, ThreadsPeak: m.peak.Threads, ThreadsEnd: m.last.Threads,
		FDsStart: m.first.FDs, FDsPeak: m.peak.FDs, FDsEnd: m.last.FDs, Samples: m.samples,
		ChildrenEnd: children, Died: m.dead, Exit: exit, LogErrors: errs, LogWarnings: warns, FirstErrors: first, ErrorsByMsg: byMsg,
	}
}
