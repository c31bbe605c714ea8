package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/assess"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// viewSource adds agreements, continuity records and broker entries to
// fakeSource.
type viewSource struct {
	fakeSource
}

var t0 = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

func (v *viewSource) Agreements(context.Context) ([]*assess.Scorecard, error) {
	return []*assess.Scorecard{
		{Agreement: "ee-lu", Title: "<b>EE-LU</b>", Sites: []string{"lu-1"}, Passed: 3, Total: 4,
			Dimensions: []assess.Dimension{{Name: "Jurisdiction", Score: "1/2", Checks: []assess.Check{{ID: "residency", Title: "Residency", Status: assess.Fail, Evidence: "<img src=x onerror=alert(1)>"}}}}},
		{Agreement: "ee-ch", Title: "EE-CH", Sites: []string{"ch-1"}, Passed: 4, Total: 4},
	}, nil
}

func (v *viewSource) Continuity(context.Context) (Continuity, error) {
	return Continuity{
		Drills:     []Drill{{Time: t0, Plan: "registers", Pass: true, RTOSeconds: 42, RTOTargetSeconds: 3600, RPOSeconds: 600, RPOTargetSeconds: 900, Digest: "aa", Source: "journal"}},
		Sessions:   []CrisisEvent{{Time: t0.Add(time.Hour), Type: "activation", Summary: "crisis declared"}},
		LastReport: &Report{Kind: "drill-report", Digest: "aa", SignatureOK: true, Body: json.RawMessage(`{"plan":"registers"}`)},
	}, nil
}

func (v *viewSource) Log(context.Context) ([]tlog.Indexed, error) {
	e := func(i uint64, t time.Time, kind, site, reason string, d map[string]string) tlog.Indexed {
		return tlog.Indexed{Index: i, Entry: tlog.Entry{Kind: kind, Time: t, Site: site, Dataset: "weights", Reason: reason, Details: d}}
	}
	return []tlog.Indexed{
		e(0, t0, tlog.KindKeyRelease, "lu-1", "", map[string]string{"tee": "tpm", "rule": "inference", "workload": "gpu-1"}),
		e(1, t0.Add(time.Hour), tlog.KindKeyRefuse, "lu-1", "policy", map[string]string{"tee": "tpm", "detail": "pcr 9 changed"}),
		e(2, t0.Add(25*time.Hour), tlog.KindKeyRefuse, "ch-1", "evidence", map[string]string{"tee": "sev-snp"}),
		e(3, t0.Add(26*time.Hour), tlog.KindDrill, "", "", map[string]string{"pass": "true", "rto_seconds": "40", "sha256": "aa"}),
		e(4, t0.Add(27*time.Hour), tlog.KindDrill, "", "", map[string]string{"pass": "false", "rto_seconds": "-1", "failures": "2"}),
	}, nil
}

func newViewServer(t *testing.T) (*Links, *httptest.Server) {
	links := &Links{Path: filepath.Join(t.TempDir(), "links.json")}
	srv := httptest.NewServer(New(Config{Source: &viewSource{}, Links: links}))
	t.Cleanup(srv.Close)
	return links, srv
}

func getJSON(t *testing.T, c *client, path string, v any) int {
	t.Helper()
	code, body := c.get(path)
	if code == 200 {
		if err := json.Unmarshal([]byte(body), v); err != nil {
			t.Fatalf("%s: %v: %s", path, err, body)
		}
	}
	return code
}

func TestAgreementsView(t *testing.T) {
	links, srv := newViewServer(t)
	var cards []assess.Scorecard
	aud := signin(t, srv, links, Principal{Role: RoleAuditor, Name: "audit"})
	if code := getJSON(t, aud, "/api/agreements", &cards); code != 200 || len(cards) != 2 {
		t.Fatalf("auditor: %d %d cards", code, len(cards))
	}
	if cards[0].Dimensions[0].Checks[0].Evidence != "<img src=x onerror=alert(1)>" {
		t.Errorf("evidence altered: %q (the page escapes it; the API returns it as data)", cards[0].Dimensions[0].Checks[0].Evidence)
	}
	op := signin(t, srv, links, Principal{Role: RoleOperator, Name: "ops", Site: "ch-1"})
	cards = nil
	if code := getJSON(t, op, "/api/agreements", &cards); code != 200 || len(cards) != 1 || cards[0].Agreement != "ee-ch" {
		t.Fatalf("host operator of ch-1: %d %+v, want only ee-ch", code, cards)
	}
	// A source without agreements answers 404, not an empty success.
	_, links2, plain := newServer(t)
	home := signin(t, plain, links2, Principal{Role: RoleHome, Name: "alice"})
	if code, _ := home.get("/api/agreements"); code != http.StatusNotFound {
		t.Errorf("no agreement source: %d, want 404", code)
	}
}

func TestContinuityView(t *testing.T) {
	links, srv := newViewServer(t)
	var c Continuity
	cus := signin(t, srv, links, Principal{Role: RoleCustodian, Name: "carol"})
	if code := getJSON(t, cus, "/api/continuity", &c); code != 200 {
		t.Fatalf("custodian: %d", code)
	}
	// The journal's drill and the log's drill with the same report merge;
	// the failed drill only in the log stays.
	if len(c.Drills) != 2 {
		t.Fatalf("drills %+v, want 2", c.Drills)
	}
	d := c.Drills[0]
	if d.Source != "log" || d.RTOSeconds != 40 || d.RPOSeconds != 600 || d.RTOTargetSeconds != 3600 || !d.Pass {
		t.Errorf("merged drill %+v", d)
	}
	if f := c.Drills[1]; f.Pass || f.Failures != 2 || f.RTOSeconds != -1 {
		t.Errorf("failed drill %+v", f)
	}
	if len(c.Sessions) != 1 || c.LastReport == nil || !c.LastReport.SignatureOK {
		t.Errorf("sessions %+v, report %+v", c.Sessions, c.LastReport)
	}
	op := signin(t, srv, links, Principal{Role: RoleOperator, Name: "ops", Site: "lu-1"})
	if code, _ := op.get("/api/continuity"); code != http.StatusForbidden {
		t.Errorf("host operator continuity: %d, want 403", code)
	}
}

func TestBrokerView(t *testing.T) {
	links, srv := newViewServer(t)
	var b BrokerActivity
	home := signin(t, srv, links, Principal{Role: RoleHome, Name: "alice"})
	if code := getJSON(t, home, "/api/broker", &b); code != 200 {
		t.Fatalf("home: %d", code)
	}
	if b.Releases != 1 || b.Refusals != 2 || b.ByReason["policy"] != 1 || b.ByReason["evidence"] != 1 || len(b.Days) != 2 || len(b.Events) != 3 {
		t.Fatalf("broker %+v", b)
	}
	if b.Events[0].Index != 2 || b.Days[0].Releases != 1 || b.Days[0].Refusals != 1 || b.Days[1].Refusals != 1 {
		t.Errorf("order or days: %+v", b)
	}
	op := signin(t, srv, links, Principal{Role: RoleOperator, Name: "ops", Site: "ch-1"})
	b = BrokerActivity{}
	if code := getJSON(t, op, "/api/broker", &b); code != 200 || b.Releases != 0 || b.Refusals != 1 || len(b.Events) != 1 || b.Events[0].Site != "ch-1" {
		t.Errorf("host operator of ch-1: %+v, want only ch-1's refusal", b)
	}
}

func TestNewViewsNeedSignIn(t *testing.T) {
	_, srv := newViewServer(t)
	for _, p := range []string{"/api/agreements", "/api/continuity", "/api/broker", "/metrics"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without sign-in: %d, want 401", p, resp.StatusCode)
		}
	}
}
