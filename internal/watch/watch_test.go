package watch

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

func TestDecodeBoundsAndCleans(t *testing.T) {
	ev, err := Decode([]byte(`{"time":"2026-01-05T03:00:00Z","kind":"session","site":"lu-1\u001b[2J","actor":"` + strings.Repeat("a", 500) + `"}`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsRune(ev.Site, 0x1b) || len(ev.Actor) > maxField {
		t.Fatalf("not cleaned: %q (%d)", ev.Site, len(ev.Actor))
	}
	for _, bad := range []string{
		`{"kind":"session"}`, // no time
		`{"time":"2026-01-05T03:00:00Z"}`,
		`{"time":"0001-01-01T00:00:01Z","kind":"x"}`,
		`{"time":"2026-01-05T03:00:00Z","kind":"proof","value":-1}`,
		`{"time":"2026-01-05T03:00:00Z","kind":"proof","value":1e300}`,
		`not json`,
		`{"time":"2026-01-05T03:00:00Z","kind":"` + strings.Repeat("x", MaxLine) + `"}`,
	} {
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("accepted %.60q", bad)
		}
	}
}

// A hostile stream — garbage, over-long lines, control characters —
// never stops the events after it from being read.
func TestReadAllSurvivesHostileLines(t *testing.T) {
	var in bytes.Buffer
	in.WriteString("garbage\n")
	in.WriteString(strings.Repeat("x", 2<<20) + "\n")
	in.WriteString(`{"time":"2026-01-05T03:00:00Z","kind":"session","site":"lu-1"}` + "\n")
	in.WriteString("\x00\x01\x02\n")
	in.WriteString(`{"time":"2026-01-05T04:00:00Z","kind":"key.use","site":"lu-1"}` + "\n")
	var got []Event
	bad, reasons, err := ReadAll(&in, func(e Event) { got = append(got, e) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || bad != 3 || len(reasons) != 3 {
		t.Fatalf("got %d events, %d bad (%v)", len(got), bad, reasons)
	}
}

func feedNormal(d *Detector, days int) time.Time {
	t := t0
	for i := 0; i < days*24*4; i++ {
		t = t0.Add(time.Duration(i) * 15 * time.Minute)
		d.Observe(Event{Time: t, Kind: KindProof, Site: "lu-1", Value: 40 + float64(i%5)})
		d.Observe(Event{Time: t, Kind: KindKeyUse, Site: "lu-1"})
	}
	return t
}

func TestLatencyDoublingAlertsOnceWithNumbers(t *testing.T) {
	d := New(Config{})
	t1 := feedNormal(d, 5)
	var alerts []Alert
	for i := 1; i <= 40; i++ {
		alerts = append(alerts, d.Observe(Event{Time: t1.Add(time.Duration(i) * 15 * time.Minute), Kind: KindProof, Site: "lu-1", Value: 85})...)
	}
	if len(alerts) != 1 {
		t.Fatalf("want exactly one alert for one lasting shift, got %d: %+v", len(alerts), alerts)
	}
	a := alerts[0]
	if a.Kind != AnomalyProofLatency || a.Site != "lu-1" || a.Baseline < 38 || a.Baseline > 46 || a.Observed != 85 || !strings.Contains(a.Why, "x2.") {
		t.Fatalf("alert %+v", a)
	}
}

func TestSteadyStreamsRaiseNothing(t *testing.T) {
	d := New(Config{})
	var n int
	for i := 0; i < 14*24*12; i++ {
		t1 := t0.Add(time.Duration(i) * 5 * time.Minute)
		n += len(d.Observe(Event{Time: t1, Kind: KindCosign, Site: "ch-1", Value: 30 + float64(i%7)}))
		if i%6 == 0 {
			n += len(d.Observe(Event{Time: t1, Kind: KindRead, Dataset: "population-register"}))
		}
	}
	if n != 0 {
		t.Fatalf("%d alerts on steady streams", n)
	}
}

func TestNightSessionThenUnwrapBurst(t *testing.T) {
	d := New(Config{})
	for day := 0; day < 10; day++ {
		base := t0.Add(time.Duration(day) * 24 * time.Hour)
		for h := 9; h < 17; h += 3 {
			d.Observe(Event{Time: base.Add(time.Duration(h) * time.Hour), Kind: KindSession, Site: "lu-1", Actor: "ops-anna"})
		}
		for m := 0; m < 24*60; m += 30 {
			d.Observe(Event{Time: base.Add(time.Duration(m) * time.Minute), Kind: KindKeyUse, Site: "lu-1"})
		}
	}
	night := t0.Add(10*24*time.Hour + 3*time.Hour)
	d.Observe(Event{Time: night, Kind: KindSession, Site: "lu-1", Actor: "intruder"})
	var got []Alert
	for i := 0; i < 30; i++ {
		got = append(got, d.Observe(Event{Time: night.Add(10*time.Minute + time.Duration(i)*20*time.Second), Kind: KindKeyUse, Site: "lu-1"})...)
	}
	if len(got) != 1 || got[0].Kind != AnomalyOffHoursUnwraps || !strings.Contains(got[0].Why, `"intruder"`) || !strings.Contains(got[0].Why, "never seen before") {
		t.Fatalf("alerts %+v", got)
	}
}

func TestFloodOfNewStreamsIsBounded(t *testing.T) {
	d := New(Config{})
	for i := 0; i < maxStreams+5000; i++ {
		d.Observe(Event{Time: t0, Kind: KindRead, Dataset: fmt.Sprint("ds-", i)})
	}
	if d.Streams() > maxStreams || d.Dropped < 5000 {
		t.Fatalf("streams %d dropped %d", d.Streams(), d.Dropped)
	}
}

func TestClockJumpsDoNotCrashOrAlert(t *testing.T) {
	d := New(Config{})
	t1 := feedNormal(d, 4)
	// A jump back a year is dropped; a jump forward a year is survived.
	if a := d.Observe(Event{Time: t1.Add(-365 * 24 * time.Hour), Kind: KindKeyUse, Site: "lu-1"}); a != nil || d.Dropped != 1 {
		t.Fatalf("backwards jump: %+v dropped %d", a, d.Dropped)
	}
	d.Observe(Event{Time: t1.Add(365 * 24 * time.Hour), Kind: KindKeyUse, Site: "lu-1"})
	d.Observe(Event{Time: t1.Add(365 * 24 * time.Hour), Kind: KindProof, Site: "lu-1", Value: 41})
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"time":"2026-01-05T03:00:00Z","kind":"session","site":"lu-1","actor":"a"}`))
	f.Add([]byte(`{"time":"2026-01-05T03:00:00Z","kind":"proof","site":"lu-1","value":42.5}`))
	f.Add([]byte(`{"time":"2026-01-05T03:00:00Z","kind":"restore","dataset":"\u00ff\u001b"}`))
	d := New(Config{Warmup: time.Nanosecond})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := Decode(b)
		if err != nil {
			return
		}
		if len(ev.Site) > maxField || strings.ContainsAny(ev.Site+ev.Actor+ev.Dataset+ev.Kind, "\x00\x1b\r\n") {
			t.Fatalf("decoded an unclean event %+v", ev)
		}
		for _, a := range d.Observe(ev) {
			if strings.ContainsAny(a.Why, "\x00\x1b\r\n") {
				t.Fatalf("alert text carries control characters: %q", a.Why)
			}
		}
	})
}
