package daemon

import (
	"context"
	"crypto/tls"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/pki"
)

// record is one log record as the tests read it back: level, message and
// the attributes rendered as text.
type record struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

// recLog keeps every record the daemon logs and hands the test the
// address each listener bound (records "embassy daemon", "witness", "host
// view").
type recLog struct {
	mu    sync.Mutex
	recs  []record
	addrs map[string]chan string
}

func newRecLog() *recLog {
	return &recLog{addrs: map[string]chan string{
		"embassy daemon": make(chan string, 1), "witness": make(chan string, 1), "host view": make(chan string, 1),
	}}
}

func (h *recLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *recLog) Handle(_ context.Context, r slog.Record) error {
	rec := record{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, rec)
	if ch, ok := h.addrs[r.Message]; ok && rec.attrs["addr"] != "" {
		select {
		case ch <- rec.attrs["addr"]:
		default:
		}
	}
	return nil
}
func (h *recLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recLog) WithGroup(string) slog.Handler      { return h }

// find returns the records with message msg.
func (h *recLog) find(msg string) []record {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []record
	for _, r := range h.recs {
		if r.msg == msg {
			out = append(out, r)
		}
	}
	return out
}

func (h *recLog) wait(t *testing.T, msg string, errc <-chan error) string {
	t.Helper()
	select {
	case a := <-h.addrs[msg]:
		return a
	case err := <-errc:
		t.Fatalf("Run returned before %q: %v", msg, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("no %q within 30s", msg)
	}
	return ""
}

// running is a daemon started by startDaemon.
type running struct {
	addr  string
	addrs map[string]string // of the extra listeners waited for
	log   *recLog
	stop  func() // cancels Run and fails the test unless it returns nil
}

// startDaemon runs the daemon with o in the background until the test
// calls stop (or ends).
func startDaemon(t *testing.T, o Options, extra ...string) *running {
	t.Helper()
	lg := newRecLog()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, o, slog.New(lg)) }()
	r := &running{log: lg, addrs: map[string]string{}}
	r.addr = lg.wait(t, "embassy daemon", errc)
	for _, m := range extra {
		r.addrs[m] = lg.wait(t, m, errc)
	}
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("Run after its context ended: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("Run did not return within 30s of its context ending")
			}
		})
	}
	t.Cleanup(r.stop)
	return r
}

// issue makes a certificate of role and name under the test's CA, saves
// it (with the CA certificate) in its own directory and returns the files
// and the pair.
func (id *identities) issue(t *testing.T, role pki.Role, name string) (pki.Files, tls.Certificate) {
	t.Helper()
	is, err := id.ca.Issue(pki.Request{Role: role, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(id.dir, "issued-"+name)
	if err := is.Save(dir, name, id.ca.Cert); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(is.CertPEM, is.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pki.Files{CA: filepath.Join(dir, pki.CACertFile), Cert: filepath.Join(dir, name+".crt"), Key: filepath.Join(dir, name+".key")}, pair
}

// tree lists the files under root (relative, sorted), skipping the
// subtrees in skip.
func tree(t *testing.T, root string, skip ...string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && slices.Contains(skip, p) {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// attrsString renders a record for failure messages.
func (r record) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q", r.level, r.msg)
	keys := make([]string, 0, len(r.attrs))
	for k := range r.attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", k, r.attrs[k])
	}
	return b.String()
}
