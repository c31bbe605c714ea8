package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// An evidence bundle cut at its head or tail does not verify with 'audit
// verify', whether cut by whoever passes it on (the seal no longer
// matches) or by the home itself with the log key, resealing as
// docs/formats/tlog.md specifies (the entry just outside the claimed range
// lies in the period), or relabelled to a shorter period than the auditor
// asked for (--from/--to).
func TestHostileEvidenceBundleCut(t *testing.T) {
	f := newFixture(t)
	src := writeSource(t, filepath.Join(f.dir, "src"), "register\n")
	for i := 0; i < 3; i++ {
		writeSource(t, src, fmt.Sprintf("register %d\n", i))
		f.run("snapshot", "registry", src, "--class", "C1-I1-A1")
	}
	bundle := filepath.Join(f.dir, "evidence.json")
	f.run("audit", "export", "--from", "2020-01-01", "--to", "2099-01-01", "-o", bundle)
	policy := filepath.Join(f.home, "log", "policy")
	if r := f.try("audit", "verify", "--policy", policy, bundle); r.code != 0 {
		t.Fatalf("honest bundle: exit %d\n%s", r.code, r.stderr)
	}
	outer, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	// The audit bundle carries the log bundle of its period in "log": the
	// cuts below are made to that (verified on its own, as a tlog bundle).
	var ab struct {
		Log json.RawMessage `json:"log"`
	}
	if err := json.Unmarshal(outer, &ab); err != nil || len(ab.Log) == 0 {
		t.Fatalf("audit bundle without a log bundle: %v", err)
	}
	raw := []byte(ab.Log)
	type entry struct {
		Index uint64   `json:"index"`
		Leaf  []byte   `json:"leaf"`
		Proof [][]byte `json:"proof"`
	}
	type doc struct {
		Format     string    `json:"format"`
		Origin     string    `json:"origin"`
		From       time.Time `json:"from,omitzero"`
		To         time.Time `json:"to,omitzero"`
		Policy     string    `json:"policy"`
		Checkpoint string    `json:"checkpoint"`
		Start      uint64    `json:"start"`
		End        uint64    `json:"end"`
		Before     *entry    `json:"before,omitempty"`
		After      *entry    `json:"after,omitempty"`
		Seal       string    `json:"seal"`
		Entries    []entry   `json:"entries"`
	}
	load := func() *doc {
		var d doc
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatal(err)
		}
		if len(d.Entries) < 4 {
			t.Fatalf("fixture: %d entries", len(d.Entries))
		}
		return &d
	}
	key, err := os.ReadFile(filepath.Join(f.home, "log", "log.key"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(key)))
	if err != nil {
		t.Fatal(err)
	}
	// The seal text of docs/formats/tlog.md, made independently.
	reseal := func(d *doc) {
		ts := func(x time.Time) string {
			if x.IsZero() {
				return "-"
			}
			return x.UTC().Format(time.RFC3339Nano)
		}
		size := strings.Split(d.Checkpoint, "\n")[1]
		h := sha256.Sum256([]byte(d.Checkpoint))
		text := fmt.Sprintf("digital-embassy.org/tlog-bundle-seal@v1\n%s\n%s\n%s\n%d\n%d\n%s\n%s\n", d.Origin, ts(d.From), ts(d.To), d.Start, d.End, size,
			base64.StdEncoding.EncodeToString(h[:]))
		b, err := note.Sign(&note.Note{Text: text}, signer)
		if err != nil {
			t.Fatal(err)
		}
		d.Seal = string(b)
	}
	// Control: resealing the unchanged bundle by the spec still verifies.
	ctl := load()
	reseal(ctl)
	for name, edit := range map[string]func(*doc){
		"control (resealed, uncut)": func(d *doc) { reseal(d) },
		"head cut":                  func(d *doc) { d.Before, d.Entries, d.Start = &d.Entries[0], d.Entries[1:], d.Start+1 },
		"tail cut": func(d *doc) {
			n := len(d.Entries)
			d.After, d.Entries, d.End = &d.Entries[n-1], d.Entries[:n-1], d.End-1
		},
		"head cut, resealed by the home": func(d *doc) {
			d.Before, d.Entries, d.Start = &d.Entries[0], d.Entries[1:], d.Start+1
			reseal(d)
		},
		"tail cut, period relabelled and resealed by the home": func(d *doc) {
			n := len(d.Entries)
			var last struct {
				Time time.Time `json:"time"`
			}
			json.Unmarshal(d.Entries[n-2].Leaf, &last)
			d.After, d.Entries, d.End, d.To = &d.Entries[n-1], d.Entries[:n-1], d.End-1, last.Time
			reseal(d)
		},
	} {
		d := load()
		edit(d)
		b, _ := json.MarshalIndent(d, "", " ")
		p := filepath.Join(f.dir, "cut.json")
		os.WriteFile(p, b, 0o644)
		r := f.try("audit", "verify", "--policy", policy, "--from", "2020-01-01", "--to", "2099-01-01", p)
		if strings.HasPrefix(name, "control") {
			if r.code != 0 {
				t.Fatalf("%s: exit %d\n%s", name, r.code, r.stderr)
			}
			continue
		}
		why := map[string]string{
			"head cut":                       "bundle seal does not match its period, range or checkpoint",
			"tail cut":                       "bundle seal does not match its period, range or checkpoint",
			"head cut, resealed by the home": "entry 0 just before the range was logged in the period (YYYY-MM-DDThh:mm:ssZ)",
			"tail cut, period relabelled and resealed by the home": "the bundle covers YYYY-MM-DDThh:mm:ssZ to YYYY-MM-DDThh:mm:ssZ, not the period asked (YYYY-MM-DDThh:mm:ssZ to YYYY-MM-DDThh:mm:ssZ)",
		}[name]
		wantRun(t, name, r.masked(f.dir, "DIR"), 3, nil, lines{
			"embassy: error: DIR/cut.json does not verify: " + why + ": the bundle does not cover its whole period",
			"embassy: hint: the file, the log or a witness was tampered with, or the trust anchor is wrong; get the policy from the sending state out of band",
		})
	}
}
