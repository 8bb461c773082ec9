package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
)

// progressBar draws one line of progress on stderr: a bar with percent and
// ETA on a terminal, a plain line every few seconds otherwise (logs, CI).
type progressBar struct {
	w     io.Writer
	tty   bool
	label string
	start time.Time

	mu   sync.Mutex
	last time.Time
}

func newProgressBar(label string) *progressBar {
	return &progressBar{w: os.Stderr, tty: isatty.IsTerminal(os.Stderr.Fd()), label: label, start: time.Now()}
}

// update shows done of total (total ≤ 0: unknown) with a note.
func (p *progressBar) update(done, total int64, note string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	every := 100 * time.Millisecond
	if !p.tty {
		every = 5 * time.Second
	}
	if now.Sub(p.last) < every && (total <= 0 || done < total) {
		return
	}
	p.last = now
	elapsed := now.Sub(p.start)
	line := p.label
	if total > 0 {
		frac := float64(done) / float64(total)
		if frac > 1 {
			frac = 1
		}
		const width = 30
		fill := int(frac * width)
		eta := "?"
		if frac > 0 {
			eta = (time.Duration(float64(elapsed)/frac) - elapsed).Round(time.Second).String()
		}
		line += fmt.Sprintf(" [%s%s] %3.0f%% ETA %s", strings.Repeat("=", fill), strings.Repeat(" ", width-fill), frac*100, eta)
	} else {
		line += fmt.Sprintf(" %d", done)
	}
	if note != "" {
		line += "  " + note
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
}

// finish ends the progress line.
func (p *progressBar) finish() {
	if p.tty {
		fmt.Fprintln(p.w)
	}
}
