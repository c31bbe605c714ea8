package server

import (
	"bytes"
	"crypto/rand"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/digital-embassy/embassy/internal/approval"
	"github.com/digital-embassy/embassy/internal/incident"
)

// FuzzAccessFiling: a host operator's request body never panics the
// decoder, and what it accepts passes the filing's own checks.
func FuzzAccessFiling(f *testing.F) {
	f.Add([]byte(`{"reason":"HOST_INITIATED_SERVICE","scope":"metadata","duration":"2h","who":"vendor","what":"migration"}`))
	f.Add([]byte(`{"reason":"host_initiated_review","scope":"metadata","duration":"24h1s","who":"x","what":"y"}`))
	f.Add([]byte(`{"reason":"HOST_INITIATED_SERVICE","scope":"metadata","duration":"1h","who":"\u001b[2J","what":"y","extra":1}`))
	f.Add([]byte(`{} {}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fl, err := decodeAccessFiling(bytes.NewReader(b))
		if err != nil {
			return
		}
		if d, err := fl.Check(); err != nil || d > approval.MaxDuration || !approval.PlainText(fl.Who+fl.What) {
			t.Fatalf("accepted %q: %+v %v", b, fl, err)
		}
	})
}

// FuzzIncidentFiling: an incident body never panics the decoder; what it
// accepts has a known type, plain text and a time not in the future.
func FuzzIncidentFiling(f *testing.F) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	f.Add([]byte(`{"type":"physical","reporter":"duty officer","what":"UPS fire","occurred":"2026-11-25T08:00:00Z"}`))
	f.Add([]byte(`{"type":"weather","reporter":"x","what":"y","occurred":"2026-11-25T08:00:00Z"}`))
	f.Add([]byte(`{"type":"security","reporter":"x","what":"y","occurred":"2027-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"type":"legal-process","reporter":"x","what":"\u202egnp.exe","occurred":"2026-11-25T08:00:00Z","site":"other"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fl, err := decodeIncident(bytes.NewReader(b), now)
		if err != nil {
			return
		}
		if fl.Occurred.After(now.Add(5*time.Minute)) || !approval.PlainText(fl.Reporter+fl.What) || fl.Check(now) != nil {
			t.Fatalf("accepted %q: %+v", b, fl)
		}
	})
}

// A decision binds home, site, request, requester, scope and expiry; the
// store keeps its signed bytes and re-derives every status from them, so
// an edited file grants nothing.
func TestAccessStoreDecisions(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "ee-home/access")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	path := filepath.Join(t.TempDir(), "access.json")
	st, err := newAccessStore(path, vkey, "ee-home", "lu", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	rec := accessRecord{HostRequest: approval.HostRequest{ID: newID(), Reason: "HOST_INITIATED_SERVICE", Scope: "metadata", Duration: "2h",
		Who: "vendor", What: "migration", Requester: "ee-home/role/operator/ops", Filed: now, Status: approval.Pending}}
	good := approval.Decision{Home: "ee-home", Site: "lu", Request: rec.ID, Requester: rec.Requester, Scope: "metadata", Approved: true,
		Expires: now.Add(time.Hour).Truncate(time.Second)}
	sign := func(d approval.Decision) []byte {
		b, err := d.Sign(signer)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	bad := map[string]func(*approval.Decision){
		"other home":      func(d *approval.Decision) { d.Home = "xx-home" },
		"other site":      func(d *approval.Decision) { d.Site = "ch" },
		"other request":   func(d *approval.Decision) { d.Request = strings.Repeat("a", 32) },
		"other requester": func(d *approval.Decision) { d.Requester = "ee-home/role/operator/eve" },
		"expired":         func(d *approval.Decision) { d.Expires = now.Add(-time.Minute) },
		"longer":          func(d *approval.Decision) { d.Expires = now.Add(5 * time.Hour) },
	}
	for name, mut := range bad {
		d := good
		mut(&d)
		if _, err := st.check(&rec, sign(d), now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	lateDenial := good
	lateDenial.Approved, lateDenial.Expires = false, now.Add(-time.Hour)
	if _, err := st.check(&rec, sign(lateDenial), now); err != nil {
		t.Errorf("a late denial was refused: %v", err)
	}
	msg := sign(good)
	if _, err := st.check(&rec, msg, now); err != nil {
		t.Fatal(err)
	}
	rec.Status, rec.Expires, rec.Decision = approval.Approved, good.Expires, msg
	pending := rec
	pending.ID, pending.Decision, pending.Status, pending.Expires = newID(), nil, approval.Approved, now.Add(time.Hour) // an edited file
	if err := writeRecordFile(path, []accessRecord{rec, pending}); err != nil {
		t.Fatal(err)
	}
	st2, err := newAccessStore(path, vkey, "ee-home", "lu", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := st2.grant(rec.Requester, "metadata", now); !ok || g.ID != rec.ID {
		t.Fatalf("the signed approval did not survive a restart: %+v", g)
	}
	if l := st2.list(); len(l) != 2 || l[1].Status != approval.Pending {
		t.Fatalf("an approval without a signature survived: %+v", l)
	}
	if _, ok := st2.grant(rec.Requester, "metadata", good.Expires.Add(time.Second)); ok {
		t.Error("granted after expiry")
	}
	if err := os.WriteFile(path, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newAccessStore(path, vkey, "ee-home", "lu", slog.New(slog.DiscardHandler)); err == nil {
		t.Error("a damaged access file was accepted")
	}
}

// An incident acknowledgement binds home, site, incident id and a time not
// before the filing; the store keeps its signed bytes and re-verifies them
// on load, so an edited file acknowledges nothing.
func TestIncidentStoreAcks(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "ee-home/access")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	keys, err := newAccessStore("", vkey, "ee-home", "lu", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "incidents.json")
	st, err := newIncidentStore(path, keys)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	rec := incidentRecord{HostRecord: incident.HostRecord{ID: newID(), HostFiling: incident.HostFiling{Type: "physical", Reporter: "duty officer",
		What: "UPS fire", Occurred: now.Add(-time.Hour)}, FiledBy: "ee-home/role/operator/ops", Filed: now}}
	good := incident.Ack{Home: "ee-home", Site: "lu", Incident: rec.ID, At: now.Add(time.Minute)}
	sign := func(a incident.Ack) []byte {
		b, err := a.Sign(signer)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	bad := map[string]func(*incident.Ack){
		"other home":     func(a *incident.Ack) { a.Home = "xx-home" },
		"other site":     func(a *incident.Ack) { a.Site = "ch" },
		"other incident": func(a *incident.Ack) { a.Incident = strings.Repeat("a", 32) },
		"before filing":  func(a *incident.Ack) { a.At = now.Add(-time.Hour) },
	}
	for name, mut := range bad {
		a := good
		mut(&a)
		if _, err := st.checkAck(&rec, sign(a)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	msg := sign(good)
	if a, err := st.checkAck(&rec, msg); err != nil || !a.At.Equal(good.At) {
		t.Fatalf("the home's acknowledgement: %+v %v", a, err)
	}
	rec.Ack, rec.Acknowledged = msg, good.At
	forged := rec
	forged.ID, forged.Ack, forged.Acknowledged = newID(), nil, now // an edited file
	replayed := rec
	replayed.ID = newID() // another incident's acknowledgement copied in
	if err := writeRecordFile(path, []incidentRecord{rec, forged, replayed}); err != nil {
		t.Fatal(err)
	}
	st2, err := newIncidentStore(path, keys)
	if err != nil {
		t.Fatal(err)
	}
	held := st2.held()
	if len(held) != 3 || !held[0].Acknowledged.Equal(good.At) || !held[1].Acknowledged.IsZero() || !held[2].Acknowledged.IsZero() || held[2].Ack != nil {
		t.Fatalf("after a restart: %+v", held)
	}
}
