package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/digital-embassy/embassy/internal/watch"
	"github.com/digital-embassy/embassy/internal/watch/notify"
	"github.com/digital-embassy/embassy/internal/watch/trace"
)

// The real binary finds the anomalies injected into a shipped trace.
func TestWatchEventsOnShippedTrace(t *testing.T) {
	f := &fixture{t: t, dir: t.TempDir()}
	f.home = filepath.Join(f.dir, "home")
	events := filepath.Join("..", "..", "internal", "watch", "testdata", "trace-seed1.jsonl.gz")
	labels := filepath.Join("..", "..", "internal", "watch", "testdata", "trace-seed1.labels.json")
	out := f.run("watch", "--events", events, "--json")
	var alerts []watch.Alert
	if err := json.Unmarshal([]byte(out), &alerts); err != nil {
		t.Fatalf("watch --json: %v\n%s", err, out)
	}
	tr, err := trace.Read(events, labels)
	if err != nil {
		t.Fatal(err)
	}
	sc := trace.Evaluate(alerts, tr.Labels)
	if sc.Precision < 0.9 || sc.Recall < 0.9 {
		t.Fatalf("precision %.2f recall %.2f over %d alerts", sc.Precision, sc.Recall, len(alerts))
	}
	for _, a := range alerts {
		if a.Why == "" || a.Unit == "" {
			t.Fatalf("an alert without its reason or numbers: %+v", a)
		}
	}
}

type mailBackend struct{ msgs chan string }

func (b *mailBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{b: b}, nil }

type mailSession struct{ b *mailBackend }

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *mailSession) Reset()                               {}
func (s *mailSession) Logout() error                        { return nil }
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.b.msgs <- string(b)
	return err
}

// A home whose protect run raised an RPO alert: 'embassy watch --once'
// logs it, posts it to a signed webhook and mails it, exactly once.
func TestWatchHomeNotifiesOnce(t *testing.T) {
	f := newFixture(t)
	secret := []byte("0123456789abcdef-webhook-secret")
	hooks := make(chan notify.Batch, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := notify.Verify(secret, body, r.Header.Get(notify.SignatureHeader), time.Now(), 5*time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var b notify.Batch
		_ = json.Unmarshal(body, &b)
		hooks <- b
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mb := &mailBackend{msgs: make(chan string, 4)}
	ms := smtp.NewServer(mb)
	ms.Domain = "localhost"
	go func() { _ = ms.Serve(ln) }()
	defer ms.Close()

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(f.home, "webhook.secret"), secret, 0o600))
	must(os.WriteFile(filepath.Join(f.home, "watch.yaml"), []byte("webhooks:\n  - url: "+srv.URL+"\n    secret_file: webhook.secret\nmail:\n  addr: "+
		ln.Addr().String()+"\n  from: watch@home.example\n  to: [soc@home.example]\n"), 0o600))
	line := `{"time":"` + time.Now().UTC().Format(time.RFC3339) + `","state":"firing","dataset":"population-register","site":"a","lag_seconds":7200,"rpo_seconds":900}` + "\n"
	must(os.WriteFile(filepath.Join(f.home, "alerts.jsonl"), []byte(line), 0o600))

	var out, errb bytes.Buffer
	c := f.cmd("watch", "--once")
	c.Stdout, c.Stderr = &out, &errb
	err = c.Run()
	var xe *exec.ExitError
	if !errors.As(err, &xe) || xe.ExitCode() != 3 {
		t.Fatalf("watch --once with a new alert: %v, want exit 3\n%s%s", err, out.String(), errb.String())
	}
	wantRun(t, "watch --once with a new alert", runResult{xe.ExitCode(), out.String(), errb.String()}.masked(), 3, lines{
		"TIME              KIND          SITE  DATASET              WHY",
		`YYYY-MM-DD hh:mm  lag-past-rpo  a     population-register  dataset "population-register" at a is 7200 s behind, its RPO is 900 s`,
	}, lines{"embassy: error: 1 new alert"})
	select {
	case b := <-hooks:
		if len(b.Alerts) != 1 || b.Alerts[0].Kind != "lag-past-rpo" || b.Alerts[0].Observed != 7200 || b.Alerts[0].Baseline != 900 {
			t.Fatalf("webhook batch %+v", b)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no signed webhook received")
	}
	select {
	case m := <-mb.msgs:
		// substring: a mail (headers with dates and ids), not output: the alert and dataset in it
		if !strings.Contains(m, "lag-past-rpo") || !strings.Contains(m, "population-register") {
			t.Fatalf("mail:\n%s", m)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no mail received")
	}
	var logged []struct {
		Kind, Reason, Dataset string
		Details               map[string]string
	}
	if err := json.Unmarshal([]byte(f.run("log", "--kind", "alert", "--json")), &logged); err != nil {
		t.Fatal(err)
	}
	if len(logged) != 1 || logged[0].Reason != "lag-past-rpo" || logged[0].Details["observed"] != "7200" {
		t.Fatalf("log entries of kind alert: %+v", logged)
	}
	// The second cycle has nothing new: exit 0, nothing sent.
	wantRun(t, "watch --once, nothing new", f.try("watch", "--once"), 0, lines{"no alerts"}, nil)
	select {
	case b := <-hooks:
		t.Fatalf("a repeat was sent: %+v", b)
	default:
	}
}
