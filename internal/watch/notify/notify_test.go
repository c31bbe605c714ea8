package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/digital-embassy/embassy/internal/watch"
)

var t0 = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

func alert(kind, site string, at time.Time) watch.Alert {
	return watch.Alert{Time: at, Kind: kind, Site: site, Why: "test", Baseline: 1, Observed: 20, Unit: "events"}
}

type recorder struct {
	mu sync.Mutex
	bs []Batch
}

func (r *recorder) Name() string { return "recorder" }
func (r *recorder) Send(_ context.Context, b Batch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bs = append(r.bs, b)
	return nil
}

func TestRouterGroupsDeduplicatesAndHolds(t *testing.T) {
	rec := &recorder{}
	sat := time.Saturday
	r := &Router{Sinks: []Sink{rec}, GroupWait: time.Minute, Repeat: time.Hour,
		Quiet: []Quiet{{Weekday: &sat, From: 0, To: 24}}, Critical: map[string]bool{watch.AnomalyOffHoursUnwraps: true}}
	if !r.Add(alert(watch.AnomalyProofLatency, "lu-1", t0)) || !r.Add(alert(watch.AnomalyProofLatency, "ch-1", t0.Add(10*time.Second))) {
		t.Fatal("distinct streams were folded")
	}
	if r.Add(alert(watch.AnomalyProofLatency, "lu-1", t0.Add(20*time.Minute))) {
		t.Fatal("a repeat within Repeat was not folded")
	}
	if bs, _ := r.Flush(context.Background(), t0.Add(30*time.Second)); len(bs) != 0 {
		t.Fatalf("sent before the group wait: %+v", bs)
	}
	bs, err := r.Flush(context.Background(), t0.Add(2*time.Minute))
	if err != nil || len(bs) != 1 || len(bs[0].Alerts) != 2 || bs[0].Suppressed != 1 {
		t.Fatalf("want one batch of 2 alerts with 1 folded, got %+v, %v", bs, err)
	}
	if len(rec.bs) != 1 {
		t.Fatalf("sink got %d batches", len(rec.bs))
	}
	// After Repeat, the same stream alerts again.
	if !r.Add(alert(watch.AnomalyProofLatency, "lu-1", t0.Add(2*time.Hour))) {
		t.Fatal("an alert after the repeat interval was folded")
	}
	// Saturday is quiet: held, not dropped; critical kinds go through.
	sat0 := time.Date(2026, 3, 7, 3, 0, 0, 0, time.UTC)
	r.Add(alert(watch.AnomalyReadSurge, "", sat0))
	r.Add(alert(watch.AnomalyOffHoursUnwraps, "lu-1", sat0))
	bs, _ = r.Flush(context.Background(), sat0.Add(5*time.Minute))
	if len(bs) != 1 || bs[0].Group != watch.AnomalyOffHoursUnwraps {
		t.Fatalf("in the quiet period want only the critical batch, got %+v", bs)
	}
	mon := time.Date(2026, 3, 9, 0, 1, 0, 0, time.UTC)
	bs, _ = r.Flush(context.Background(), mon)
	groups := map[string]bool{}
	for _, b := range bs {
		groups[b.Group] = true
	}
	if !groups[watch.AnomalyReadSurge] || !groups[watch.AnomalyProofLatency] {
		t.Fatalf("held batches not sent after the quiet period: %+v", bs)
	}
}

type failing struct{ n int }

func (f *failing) Name() string { return "failing" }
func (f *failing) Send(context.Context, Batch) error {
	f.n++
	return errors.New("down")
}

func TestRouterRetriesThenDrops(t *testing.T) {
	f := &failing{}
	r := &Router{Sinks: []Sink{f}, GroupWait: time.Second}
	r.Add(alert(watch.AnomalyReadSurge, "", t0))
	for i := 0; i < 5; i++ {
		_, _ = r.Flush(context.Background(), t0.Add(time.Duration(i+1)*time.Minute))
	}
	if f.n != 3 || r.Dropped != 1 || r.Failed != 3 {
		t.Fatalf("tries %d failed %d dropped %d, want 3 3 1", f.n, r.Failed, r.Dropped)
	}
}

func TestWebhookSignedAndVerified(t *testing.T) {
	secret := []byte("shared-secret")
	got := make(chan Batch, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if err := Verify(secret, body, req.Header.Get(SignatureHeader), t0, 5*time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var b Batch
		if err := json.Unmarshal(body, &b); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got <- b
	}))
	defer srv.Close()
	wh := &Webhook{URL: srv.URL, Secret: secret, Now: func() time.Time { return t0 }}
	if err := wh.Send(context.Background(), Batch{Group: "g", Alerts: []watch.Alert{alert(watch.AnomalyWitnessDrift, "fi-1", t0)}}); err != nil {
		t.Fatal(err)
	}
	if b := <-got; len(b.Alerts) != 1 || b.Alerts[0].Site != "fi-1" {
		t.Fatalf("receiver got %+v", b)
	}
	bad := &Webhook{URL: srv.URL, Secret: []byte("wrong"), Now: func() time.Time { return t0 }}
	if err := bad.Send(context.Background(), Batch{Group: "g"}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("a wrong secret was accepted: %v", err)
	}
}

func TestVerifyRefusesReplayAndTamper(t *testing.T) {
	secret, body := []byte("k"), []byte(`{"group":"x"}`)
	h := Sign(secret, body, t0)
	if err := Verify(secret, body, h, t0.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := Verify(secret, body, h, t0.Add(time.Hour), 5*time.Minute); err == nil || !strings.Contains(err.Error(), "stale") {
		t.Fatalf("replay accepted: %v", err)
	}
	if err := Verify(secret, []byte(`{"group":"y"}`), h, t0, 5*time.Minute); err == nil {
		t.Fatal("altered body accepted")
	}
	for _, h := range []string{"", "t=abc,v1=00", "v1=00", "t=1"} {
		if err := Verify(secret, body, h, t0, 5*time.Minute); err == nil {
			t.Fatalf("malformed header %q accepted", h)
		}
	}
}

// A real SMTP server (emersion/go-smtp) on loopback receives the mail.
type smtpBackend struct{ msgs chan string }

func (b *smtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSession{b: b}, nil }

type smtpSession struct {
	b  *smtpBackend
	to []string
}

func (s *smtpSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.b.msgs <- strings.Join(s.to, ",") + "\n" + string(b)
	return nil
}
func (s *smtpSession) Reset()        {}
func (s *smtpSession) Logout() error { return nil }

func TestMailToLocalSMTPServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	be := &smtpBackend{msgs: make(chan string, 1)}
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	m := &Mail{Addr: ln.Addr().String(), From: "watch@home.example", To: []string{"soc@home.example"}}
	a := alert(watch.AnomalyOffHoursUnwraps, "lu-1", t0)
	a.Why = "session by \"evil\x1b[31m\" then 31 key uses"
	if err := m.Send(context.Background(), Batch{Group: a.Kind, Sent: t0, Alerts: []watch.Alert{a}}); err != nil {
		t.Fatal(err)
	}
	msg := <-be.msgs
	if !strings.HasPrefix(msg, "soc@home.example\n") || !strings.Contains(msg, "Subject: [embassy] 1 alert: offhours-session-unwraps") ||
		!strings.Contains(msg, "site=lu-1") {
		t.Fatalf("mail received:\n%s", msg)
	}
	if strings.Contains(msg, "\x1b") {
		t.Fatal("an escape sequence from a host-controlled field reached the mail")
	}
}
