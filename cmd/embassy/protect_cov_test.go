package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// protectEvents runs 'embassy protect' (continuous, not --once) and turns
// its stdout into events: one line per committed snapshot, and the
// metrics address.
type protectRun struct {
	t     *testing.T
	lines chan string
	mu    sync.Mutex
	buf   bytes.Buffer
	wait  func() int
	stop  func()
}

func (p *protectRun) stderr() string { p.mu.Lock(); defer p.mu.Unlock(); return p.buf.String() }

func startProtect(t *testing.T, f *fixture, args ...string) *protectRun {
	t.Helper()
	c := f.cmd(append([]string{"protect"}, args...)...)
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &protectRun{t: t, lines: make(chan string, 64)}
	c.Stderr = lockedWriter{mu: &p.mu, b: &p.buf}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	exited := false
	t.Cleanup(func() {
		if !exited {
			c.Process.Kill()
			c.Wait()
		}
	})
	p.wait = func() int { exited = true; return exitCode(t, c) }
	p.stop = func() {
		if err := c.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// next waits for the next stdout line matching re, with a deadline.
func (p *protectRun) next(re *regexp.Regexp, within time.Duration) []string {
	p.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("protect exited before printing %s\nstderr: %s", re, p.stderr())
			}
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-deadline:
			p.t.Fatalf("no line matching %s within %s\nstderr: %s", re, within, p.stderr())
		}
	}
}

var snapLine = regexp.MustCompile(`^\S+ snapshot ([0-9a-f]{8}) of reg \(`)

// TestProtectContinuous runs the real binary in continuous mode: it
// snapshots the source at once, snapshots it again when it changes (seen
// by its own poll, announced on stdout), serves its metrics, stops cleanly
// on SIGTERM (exit 0), and both snapshots restore byte for byte.
func TestProtectContinuous(t *testing.T) {
	f := newFixture(t)
	src := filepath.Join(f.dir, "registry")
	os.MkdirAll(src, 0o755)
	v1 := bytes.Repeat([]byte("38501012231,Mari,Tamm,Tallinn\n"), 4000)
	writeFile(t, filepath.Join(src, "population.csv"), string(v1))
	writeFile(t, filepath.Join(f.home, "protect.yaml"), "poll: 50ms\ndatasets:\n  - name: reg\n    source: {type: dir, path: "+src+"}\n    on-change: true\n    rpo: 1h\n    class: C1-I1-A1\n")

	p := startProtect(t, f, "--metrics", "127.0.0.1:0")
	metrics := p.next(regexp.MustCompile(`^metrics at (http://\S+/metrics)$`), 60*time.Second)[1]
	first := p.next(snapLine, 60*time.Second)[1]
	d1 := treeDigest(t, src)

	// A new version, moved into place whole so no poll sees half of it.
	v2 := append(bytes.Repeat([]byte("49001010000,Jaan,Kask,Tartu\n"), 5000), v1[:100]...)
	tmp := filepath.Join(f.dir, "population.csv.new")
	writeFile(t, tmp, string(v2))
	if err := os.Rename(tmp, filepath.Join(src, "population.csv")); err != nil {
		t.Fatal(err)
	}
	second := p.next(snapLine, 60*time.Second)[1]
	if second == first {
		t.Fatalf("the change was snapshotted as %s again", first)
	}
	d2 := treeDigest(t, src)

	resp, err := http.Get(metrics)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`embassy_protect_snapshots_total{dataset="reg",result="ok"} 2`,
		`embassy_protect_snapshots_total{dataset="reg",result="failed"} 0`,
		`embassy_rpo_exceeded{dataset="reg",site="a"} 0`,
	} {
		// substring: whole lines of the metrics page, whose other lines (Go runtime metrics) vary
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}

	p.stop()
	if code := p.wait(); code != 0 {
		t.Fatalf("protect exited %d on SIGTERM, want 0\nstderr: %s", code, p.stderr())
	}
	wantLines(t, "protect's stderr", p.stderr(), nil) // no alert, no error

	var snaps []struct {
		ID   string   `json:"id"`
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal([]byte(f.run("snapshots", "reg", "--json")), &snaps); err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 2 {
		t.Fatalf("%d snapshots, want 2: %+v", len(snaps), snaps)
	}
	for _, s := range snaps {
		if len(s.Tags) != 1 || s.Tags[0] != "protect" {
			t.Errorf("snapshot %s tags %v, want [protect]", s.ID, s.Tags)
		}
	}
	for id, want := range map[string]string{first: d1, second: d2} {
		out := filepath.Join(f.dir, "restore-"+id)
		f.run("restore", "reg@"+id, "--target", out)
		if got := treeDigest(t, out); got != want {
			t.Fatalf("snapshot %s does not restore the source as it was", id)
		}
	}
}
