package main

import (
	"bytes"
	"io"
	"os"
	"sync"
)

// progressWidth bounds a progress line, so it fits a terminal and never
// wraps (a wrapped line cannot be rewritten in place).
const progressWidth = 100

// statusLine shows the latest line written to it on one terminal line,
// rewritten in place; Clear removes it before the report is printed.
type statusLine struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *statusLine) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	line := bytes.TrimSpace(p)
	if len(line) > progressWidth {
		line = append(line[:progressWidth-1:progressWidth-1], "…"...)
	}
	_, err := s.w.Write(append([]byte("\r\x1b[K"), line...))
	return len(p), err
}

// Clear erases the line.
func (s *statusLine) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, _ = s.w.Write([]byte("\r\x1b[K"))
}

// progressTo is where progress goes: a status line on stderr when it is a
// terminal and -q is not given, else nowhere (reports and CI logs stay as
// they are).
func progressTo(quiet bool) *statusLine {
	if quiet {
		return nil
	}
	if fi, err := os.Stderr.Stat(); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return &statusLine{w: os.Stderr}
}
