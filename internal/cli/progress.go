package cli

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// bar is a minimal progress line on stderr, shown only on a terminal (or
// with --progress always) and never with --json or --quiet.
type bar struct {
	e     *env
	label string
	get   func() (done, total int64)
	unit  string // "bytes" or ""
	stop  chan struct{}
	wg    sync.WaitGroup
	start time.Time
}

func (e *env) showProgress() bool {
	if e.quiet || e.json || e.progress == "never" {
		return false
	}
	if e.progress == "always" {
		return true
	}
	f, ok := e.stderr.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (e *env) newBar(label string, get func() (int64, int64)) *bar {
	b := &bar{e: e, label: label, get: get, unit: "bytes", stop: make(chan struct{}), start: time.Now()}
	if !e.showProgress() {
		return b
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				b.draw(true)
				return
			case <-t.C:
				b.draw(false)
			}
		}
	}()
	return b
}

func (b *bar) draw(final bool) {
	done, total := b.get()
	el := time.Since(b.start).Seconds()
	rate := ""
	if el > 0 {
		rate = humanBytes(int64(float64(done)/el)) + "/s"
	}
	line := ""
	if total > 0 {
		frac := float64(done) / float64(total)
		if frac > 1 {
			frac = 1
		}
		n := int(frac * 30)
		line = fmt.Sprintf("%s [%s%s] %5.1f%% %s / %s %s", b.label, strings.Repeat("=", n), strings.Repeat(" ", 30-n), frac*100, humanBytes(done), humanBytes(total), rate)
	} else {
		line = fmt.Sprintf("%s %s %s", b.label, humanBytes(done), rate)
	}
	fmt.Fprintf(b.e.stderr, "\r\033[K%s", line)
	if final {
		fmt.Fprintln(b.e.stderr)
	}
}

// done stops the bar.
func (b *bar) done() {
	select {
	case <-b.stop:
		return
	default:
	}
	close(b.stop)
	b.wg.Wait()
}

func (e *env) copyProgress() func(done, total int64) {
	if !e.showProgress() {
		return nil
	}
	var last time.Time
	return func(done, total int64) {
		if time.Since(last) < 200*time.Millisecond && done < total {
			return
		}
		last = time.Now()
		fmt.Fprintf(e.stderr, "\r\033[Kcopying %s / %s", humanBytes(done), humanBytes(total))
		if done >= total {
			fmt.Fprintln(e.stderr)
		}
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
