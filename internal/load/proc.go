package load

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is the unit of /proc/<pid>/stat's CPU times (USER_HZ, 100 on
// Linux).
const clockTicks = 100

// serverSampler reads local servers' memory and CPU time from /proc,
// summed over their processes.
type serverSampler struct {
	pids                    []int
	rssBefore, rssConnected int64
	conns                   int64
	cpu0, cpu1              float64
	t0, t1                  time.Time
}

func newServerSampler(pids []int) (*serverSampler, error) {
	s := &serverSampler{pids: pids}
	for _, pid := range pids {
		rss, err := readRSS(pid)
		if err != nil {
			return nil, fmt.Errorf("-pid %d: %w", pid, err)
		}
		s.rssBefore += rss
	}
	return s, nil
}

// rss returns the processes' RSS together.
func (s *serverSampler) rss() int64 {
	var n int64
	for _, pid := range s.pids {
		r, _ := readRSS(pid)
		n += r
	}
	return n
}

// cpu returns the processes' CPU time together, in seconds.
func (s *serverSampler) cpu() float64 {
	var n float64
	for _, pid := range s.pids {
		c, _ := readCPU(pid)
		n += c
	}
	return n
}

func (s *serverSampler) connected(n int64) {
	s.conns = n
	s.rssConnected = s.rss()
}

func (s *serverSampler) windowStart() {
	s.cpu0 = s.cpu()
	s.t0 = time.Now()
}

func (s *serverSampler) windowEnd() {
	s.cpu1 = s.cpu()
	s.t1 = time.Now()
}

func (s *serverSampler) stats(_ time.Duration, delivered int64) *ServerStats {
	st := &ServerStats{PID: s.pids[0], RSSBefore: s.rssBefore, RSSConnected: s.rssConnected}
	if len(s.pids) > 1 {
		st.PIDs = s.pids
	}
	if s.conns > 0 {
		st.RSSPerConnection = float64(s.rssConnected-s.rssBefore) / float64(s.conns)
	}
	st.CPUSeconds = s.cpu1 - s.cpu0
	if d := s.t1.Sub(s.t0).Seconds(); d > 0 {
		st.CPUPercent = 100 * st.CPUSeconds / d
	}
	if delivered > 0 {
		st.CPUPerMessageUS = st.CPUSeconds * 1e6 / float64(delivered)
	}
	return st
}

// cpuStats returns the processes' CPU time in the measured time.
func (s *serverSampler) cpuStats() *CPUStats {
	st := &CPUStats{Seconds: s.cpu1 - s.cpu0}
	if d := s.t1.Sub(s.t0).Seconds(); d > 0 {
		st.Percent = 100 * st.Seconds / d
	}
	return st
}

// readRSS returns VmRSS of /proc/<pid>/status, in bytes.
func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) == 2 && f[1] == "kB" {
				n, err := strconv.ParseInt(f[0], 10, 64)
				return n * 1024, err
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// readCPU returns the user and system time of /proc/<pid>/stat, in
// seconds.
func readCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing parenthesis (field 3 is the first).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseFloat(f[11], 64) // field 14
	stime, err2 := strconv.ParseFloat(f[12], 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	return (utime + stime) / clockTicks, nil
}
