package tlog

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// An evidence bundle cut at the head or the tail of its period, by whoever
// hands it over (a host) or by the home with its own log key, does not
// verify: the seal binds the range and period, and the entries just
// outside the range are proven to lie outside the period.
func TestBundleCutAtEitherEnd(t *testing.T) {
	ctx := context.Background()
	te := filledLog(t, 30)
	r := NewReader(te.dir+"/log", te.policy)
	signer := te.signer(t)
	data, err := r.Export(ctx, testEntry(10).Time, testEntry(20).Time, signer)
	if err != nil {
		t.Fatal(err)
	}
	b, ents, err := VerifyBundle(data, te.policy)
	if err != nil || len(ents) != 11 || b.Before == nil || b.After == nil || b.End-b.Start != 11 {
		t.Fatalf("honest bundle: %v, %d entries, range [%d, %d)", err, len(ents), b.Start, b.End)
	}
	parse := func() *Bundle {
		var c Bundle
		if err := jsonUnmarshal(data, &c); err != nil {
			t.Fatal(err)
		}
		return &c
	}
	reseal := func(c *Bundle, s note.Signer) {
		cp, err := te.policy.VerifyCheckpoint([]byte(c.Checkpoint))
		if err != nil {
			t.Fatal(err)
		}
		n, err := note.Sign(&note.Note{Text: c.sealText(cp.Size)}, s)
		if err != nil {
			t.Fatal(err)
		}
		c.Seal = string(n)
	}
	otherKey, _, err := note.GenerateKey(rand.Reader, te.origin)
	if err != nil {
		t.Fatal(err)
	}
	other, err := note.NewSigner(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		edit func(*Bundle)
		want error
	}{
		{"head cut, range kept", func(c *Bundle) { c.Entries = c.Entries[1:] }, ErrBundleCut},
		{"tail cut, range kept", func(c *Bundle) { c.Entries = c.Entries[:len(c.Entries)-1] }, ErrBundleCut},
		{"head cut, range moved", func(c *Bundle) { c.Entries, c.Start = c.Entries[1:], c.Start+1 }, ErrBundleCut},
		{"tail cut, range moved", func(c *Bundle) { c.Entries, c.End = c.Entries[:len(c.Entries)-1], c.End-1 }, ErrBundleCut},
		{"head cut, period relabelled", func(c *Bundle) {
			c.Entries, c.Start, c.From, c.Before = c.Entries[1:], c.Start+1, testEntry(11).Time, &c.Entries[0]
		}, ErrBundleCut},
		{"tail cut, period relabelled", func(c *Bundle) {
			n := len(c.Entries)
			c.Entries, c.End, c.To, c.After = c.Entries[:n-1], c.End-1, testEntry(19).Time, &c.Entries[n-1]
		}, ErrBundleCut},
		{"head cut, resealed with another key", func(c *Bundle) {
			c.Entries, c.Start, c.Before = c.Entries[1:], c.Start+1, &c.Entries[0]
			reseal(c, other)
		}, ErrLogSignature},
		// The home itself, holding the log key, cannot cut either: the
		// entry just outside the range it claims lies in the period.
		{"head cut, resealed by the log", func(c *Bundle) {
			c.Entries, c.Start, c.Before = c.Entries[1:], c.Start+1, &c.Entries[0]
			reseal(c, signer)
		}, ErrBundleCut},
		{"tail cut, resealed by the log", func(c *Bundle) {
			n := len(c.Entries)
			c.Entries, c.End, c.After = c.Entries[:n-1], c.End-1, &c.Entries[n-1]
			reseal(c, signer)
		}, ErrBundleCut},
		{"boundary entry dropped, resealed by the log", func(c *Bundle) {
			c.Before = nil
			reseal(c, signer)
		}, ErrBundleCut},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := parse()
			tc.edit(c)
			out, err := c.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := VerifyBundle(out, te.policy); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// A bundle of the old format bound nothing: refused with the way out.
	old := strings.Replace(string(data), BundleFormat, bundleFormatV1, 1)
	if _, _, err := VerifyBundle([]byte(old), te.policy); err == nil || !strings.Contains(err.Error(), "export the period again") {
		t.Fatalf("v1 bundle: %v", err)
	}
}

// A period with no entry still proves its emptiness: the neighbours on both
// sides lie outside it.
func TestBundleEmptyPeriod(t *testing.T) {
	te := filledLog(t, 5)
	r := NewReader(te.dir+"/log", te.policy)
	from := testEntry(2).Time.Add(100 * 1e6)
	data, err := r.Export(context.Background(), from, from.Add(200*1e6), te.signer(t))
	if err != nil {
		t.Fatal(err)
	}
	b, ents, err := VerifyBundle(data, te.policy)
	if err != nil || len(ents) != 0 || b.Start != b.End || b.Before == nil || b.After == nil {
		t.Fatalf("empty period: %v, %d entries, %+v", err, len(ents), b)
	}
}

func TestBundleCovers(t *testing.T) {
	d := func(s string) time.Time {
		x, err := time.Parse("2006-01-02", s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	nov := &Bundle{From: d("2026-11-01"), To: d("2026-12-01")}
	for _, tc := range []struct {
		b        *Bundle
		from, to time.Time
		ok       bool
	}{
		{nov, d("2026-11-01"), d("2026-12-01"), true},
		{nov, d("2026-11-10"), d("2026-11-20"), true},
		{nov, d("2026-10-31"), d("2026-12-01"), false}, // head relabelled
		{nov, d("2026-11-01"), d("2026-12-02"), false}, // tail relabelled
		{nov, time.Time{}, d("2026-12-01"), false},
		{nov, d("2026-11-01"), time.Time{}, false},
		{&Bundle{}, time.Time{}, time.Time{}, true},
		{&Bundle{}, d("2026-11-01"), d("2026-12-01"), true},
	} {
		if err := tc.b.Covers(tc.from, tc.to); (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrBundleCut)) {
			t.Errorf("bundle %v..%v asked %v..%v: %v", tc.b.From, tc.b.To, tc.from, tc.to, err)
		}
	}
}
