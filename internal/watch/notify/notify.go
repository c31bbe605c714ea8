// Package notify delivers the watcher's alerts without Prometheus: to
// webhooks (JSON, signed with an HMAC) and by e-mail (SMTP), with
// deduplication, grouping and quiet periods.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/watch"
)

// Batch is one notification: the alerts of one group.
type Batch struct {
	Group  string        `json:"group"`
	Sent   time.Time     `json:"sent"`
	Alerts []watch.Alert `json:"alerts"`
	// Suppressed counts repeats of these alerts that were folded in.
	Suppressed int `json:"suppressed,omitempty"`
}

// Sink is a destination.
type Sink interface {
	Name() string
	Send(ctx context.Context, b Batch) error
}

// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256 of
// "<t>.<body>">" on every webhook request; receivers recompute it with the
// shared secret and refuse stale timestamps (replay).
const SignatureHeader = "X-Embassy-Signature"

// Sign returns the signature header value for body at t.
func Sign(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header against body, refusing a timestamp
// further than skew from now.
func Verify(secret, body []byte, header string, now time.Time, skew time.Duration) error {
	var ts, sig string
	for _, p := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return errors.New("signature header malformed: want t=<unix>,v1=<hex>")
	}
	t := time.Unix(sec, 0)
	if d := now.Sub(t); d > skew || d < -skew {
		return fmt.Errorf("signature timestamp %s is %v from now: stale or replayed", t.UTC().Format(time.RFC3339), d.Round(time.Second))
	}
	want := Sign(secret, body, t)
	if !hmac.Equal([]byte(want), []byte("t="+ts+",v1="+sig)) {
		return errors.New("signature does not match: wrong secret or altered body")
	}
	return nil
}

// Webhook posts each batch as JSON.
type Webhook struct {
	URL    string
	Secret []byte
	Client *http.Client
	Now    func() time.Time
}

func (w *Webhook) Name() string { return "webhook " + w.URL }

func (w *Webhook) Send(ctx context.Context, b Batch) error {
	body, err := json.Marshal(b)
	if err != nil {
		return err
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign(w.Secret, body, now()))
	c := w.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", w.URL, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook %s: %s", w.URL, resp.Status)
	}
	return nil
}

// Mail sends each batch as a plain-text e-mail.
type Mail struct {
	Addr     string // host:port of the SMTP server
	From     string
	To       []string
	Username string
	Password string // used only over TLS (STARTTLS), as net/smtp requires
}

func (m *Mail) Name() string { return "mail " + strings.Join(m.To, ",") }

func (m *Mail) Send(ctx context.Context, b Batch) error {
	var msg bytes.Buffer
	subject := fmt.Sprintf("[embassy] %d %s: %s", len(b.Alerts), map[bool]string{true: "alert", false: "alerts"}[len(b.Alerts) == 1], b.Group)
	fmt.Fprintf(&msg, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
		m.From, strings.Join(m.To, ", "), headerSafe(subject), b.Sent.UTC().Format(time.RFC1123Z))
	for _, a := range b.Alerts {
		fmt.Fprintf(&msg, "%s  %s  site=%s dataset=%s\r\n    %s\r\n    baseline %v, observed %v %s\r\n\r\n",
			a.Time.UTC().Format(time.RFC3339), a.Kind, watch.Clean(a.Site), watch.Clean(a.Dataset), watch.Clean(a.Why), a.Baseline, a.Observed, a.Unit)
	}
	if b.Suppressed > 0 {
		fmt.Fprintf(&msg, "(%d repeats of these alerts were folded in)\r\n", b.Suppressed)
	}
	var auth smtp.Auth
	if m.Username != "" {
		host, _, _ := net.SplitHostPort(m.Addr)
		auth = smtp.PlainAuth("", m.Username, m.Password, host)
	}
	done := make(chan error, 1)
	go func() { done <- smtp.SendMail(m.Addr, auth, m.From, m.To, msg.Bytes()) }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("mail via %s: %w", m.Addr, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

// Quiet is a recurring quiet period (hours of a weekday, UTC) or a one-off
// window; notifications due inside it are held and sent when it ends.
type Quiet struct {
	Weekday  *time.Weekday // nil: every day
	From, To int           // hours of day [From, To)
	Start    time.Time     // one-off window, used when non-zero
	End      time.Time
}

func (q Quiet) contains(t time.Time) bool {
	if !q.Start.IsZero() {
		return !t.Before(q.Start) && t.Before(q.End)
	}
	t = t.UTC()
	if q.Weekday != nil && t.Weekday() != *q.Weekday {
		return false
	}
	return t.Hour() >= q.From && t.Hour() < q.To
}

// Router deduplicates, groups and delivers alerts. Add may be called from
// any goroutine; Flush sends what is due.
type Router struct {
	Sinks []Sink
	// GroupWait is how long the first alert of a group waits for others
	// (default 30 s); Repeat is how long an alert of the same stream is
	// folded into the first rather than sent again (default 4 h).
	GroupWait, Repeat time.Duration
	Quiet             []Quiet
	// Critical kinds are sent even in a quiet period.
	Critical map[string]bool

	mu      sync.Mutex
	pending map[string]*pendingGroup
	lastKey map[string]time.Time
	folded  map[string]int
	retry   []retryItem
	// Failed counts deliveries that failed; each is retried on the next
	// Flush, at most 3 times in all, then dropped (and counted in Dropped).
	Failed, Dropped int
}

type retryItem struct {
	sink  Sink
	batch Batch
	tries int
}

type pendingGroup struct {
	first  time.Time
	alerts []watch.Alert
}

func (r *Router) defaults() {
	if r.GroupWait == 0 {
		r.GroupWait = 30 * time.Second
	}
	if r.Repeat == 0 {
		r.Repeat = 4 * time.Hour
	}
	if r.pending == nil {
		r.pending, r.lastKey, r.folded = map[string]*pendingGroup{}, map[string]time.Time{}, map[string]int{}
	}
}

// Add queues an alert; it reports false when the alert was folded into an
// earlier one of the same stream (deduplicated).
func (r *Router) Add(a watch.Alert) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.defaults()
	k := a.Key()
	if last, ok := r.lastKey[k]; ok && a.Time.Sub(last) < r.Repeat && a.Time.Sub(last) > -r.Repeat {
		r.folded[a.Kind]++
		return false
	}
	r.lastKey[k] = a.Time
	g := r.pending[a.Kind]
	if g == nil {
		g = &pendingGroup{first: a.Time}
		r.pending[a.Kind] = g
	}
	if len(g.alerts) < 1000 {
		g.alerts = append(g.alerts, a)
	}
	return true
}

// Flush sends every group whose wait is over and that is not held by a
// quiet period; it returns the batches sent.
func (r *Router) Flush(ctx context.Context, now time.Time) ([]Batch, error) {
	r.mu.Lock()
	r.defaults()
	var due []Batch
	var keys []string
	for k := range r.pending {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, kind := range keys {
		g := r.pending[kind]
		if now.Sub(g.first) < r.GroupWait {
			continue
		}
		if !r.Critical[kind] && r.quiet(now) {
			continue
		}
		due = append(due, Batch{Group: kind, Sent: now, Alerts: g.alerts, Suppressed: r.folded[kind]})
		delete(r.pending, kind)
		r.folded[kind] = 0
	}
	work := r.retry
	r.retry = nil
	for _, b := range due {
		for _, s := range r.Sinks {
			work = append(work, retryItem{sink: s, batch: b})
		}
	}
	r.mu.Unlock()
	var errs []error
	for _, it := range work {
		if err := it.sink.Send(ctx, it.batch); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", it.sink.Name(), err))
			r.mu.Lock()
			r.Failed++
			if it.tries+1 < 3 {
				r.retry = append(r.retry, retryItem{it.sink, it.batch, it.tries + 1})
			} else {
				r.Dropped++
			}
			r.mu.Unlock()
		}
	}
	return due, errors.Join(errs...)
}

func (r *Router) quiet(t time.Time) bool {
	for _, q := range r.Quiet {
		if q.contains(t) {
			return true
		}
	}
	return false
}
