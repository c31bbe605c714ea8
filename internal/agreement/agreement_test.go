package agreement

import (
	"crypto/ed25519"
	"crypto/sha256"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testKey(name string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte("embassy test key " + name))
	return ed25519.NewKeyFromSeed(s[:])
}

// example reads an example agreement with test keys filled in.
func example(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "agreements", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "SENDING_KEY", FormatPublicKey(testKey("sending").Public().(ed25519.PublicKey)), 1)
	s = strings.Replace(s, "HOST_KEY", FormatPublicKey(testKey("host").Public().(ed25519.PublicKey)), 1)
	return []byte(s)
}

func signBoth(t testing.TB, doc []byte) []byte {
	t.Helper()
	for _, role := range []string{Sending, Host} {
		a, err := Parse(doc)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := Sign(a, role, testKey(role))
		if err != nil {
			t.Fatal(err)
		}
		if doc, err = SetSignature(doc, role, sig); err != nil {
			t.Fatal(err)
		}
	}
	return doc
}

func TestBaseline(t *testing.T) {
	b := DefaultBaseline()
	if b.Version == "" || b.Values["operations.disclosure-delay-hours"].Int() != 24 {
		t.Fatalf("baseline: %+v", b)
	}
}

func TestExamples(t *testing.T) {
	base := DefaultBaseline()
	for _, name := range []string{"ee-lu", "mc-lu"} {
		a, err := Parse(signBoth(t, example(t, name)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := Verify(a); err != nil {
			t.Errorf("%s: verify: %v", name, err)
		}
		if lo, err := CheckBaseline(a, base); err != nil || len(lo) != 0 {
			t.Errorf("%s: baseline: %v %v", name, lo, err)
		}
	}
	a, err := Parse(signBoth(t, example(t, "noncompliant")))
	if err != nil {
		t.Fatal(err)
	}
	_, err = CheckBaseline(a, base)
	for _, want := range []string{"political.instrument", "legal.governing-law", "legal.immunities.data", "technical.keys-held-by",
		"operations.disclosure-delay-hours", "residency.recovery-distance-km", "exit.deletion-certificate"} {
		if err == nil || !strings.Contains(err.Error(), want+":") {
			t.Errorf("noncompliant: no error for %s in %v", want, err)
		}
	}
	if !a.StatusAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), base).Expired {
		t.Error("noncompliant should be expired in 2026")
	}
}

func TestSignatures(t *testing.T) {
	doc := example(t, "ee-lu")
	a, _ := Parse(doc)
	if err := Verify(a); err == nil || !strings.Contains(err.Error(), "signatures.sending: missing") {
		t.Fatalf("unsigned: %v", err)
	}
	signed := signBoth(t, doc)
	// Layout and comments do not matter; values do.
	relaid := strings.Replace(string(signed), "disclosure-delay-hours: 24", "disclosure-delay-hours:   24 # a comment", 1)
	if a, _ := Parse([]byte(relaid)); Verify(a) != nil {
		t.Fatalf("relaid: %v", Verify(a))
	}
	altered := strings.Replace(string(signed), "disclosure-delay-hours: 24", "disclosure-delay-hours: 12", 1)
	a, err := Parse([]byte(altered))
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(a); err == nil || !strings.Contains(err.Error(), "altered") {
		t.Fatalf("altered: %v", err)
	}
	if _, err := Sign(a, Host, testKey("sending")); err == nil {
		t.Fatal("signed as host with the sending key")
	}
}

func TestOverride(t *testing.T) {
	doc := []byte(strings.Replace(string(example(t, "ee-lu")), "disclosure-delay-hours: 24", "disclosure-delay-hours: 48", 1))
	doc = signBoth(t, doc)
	base := DefaultBaseline()
	a, _ := Parse(doc)
	_, err := CheckBaseline(a, base)
	if err == nil || !strings.Contains(err.Error(), "operations.disclosure-delay-hours: 48 loosens the baseline 24") {
		t.Fatalf("loosening: %v", err)
	}
	if _, err := SignOverride(a, "operations.disclosure-delay-hours", "why", testKey("host")); err == nil {
		t.Fatal("host signed an override")
	}
	o, err := SignOverride(a, "operations.disclosure-delay-hours", "batch reporting accepted for 2026", testKey("sending"))
	if err != nil {
		t.Fatal(err)
	}
	doc2, err := AddOverride(doc, o)
	if err != nil {
		t.Fatal(err)
	}
	a2, err := Parse(doc2)
	if err != nil {
		t.Fatal(err)
	}
	lo, err := CheckBaseline(a2, base)
	if err != nil || len(lo) != 1 || lo[0].Term != "operations.disclosure-delay-hours" {
		t.Fatalf("override: %v %v", lo, err)
	}
	if Verify(a2) != nil {
		t.Fatal("override broke the party signatures")
	}
	if Resolve(a2, base)["operations.disclosure-delay-hours"].Source != FromOverride {
		t.Fatal("source")
	}
	tampered := strings.Replace(string(doc2), "batch reporting accepted for 2026", "batch reporting accepted forever", 1)
	a3, _ := Parse([]byte(tampered))
	if _, err := CheckBaseline(a3, base); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("tampered override: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	good := string(example(t, "ee-lu"))
	for _, tc := range []struct{ name, from, to, want string }{
		{"malformed", "hub: private", "hub: [private", "not valid YAML"},
		{"unknown term", "  audit-rights: true", "  audit-rights: true\n  free-lunch: true", "line 46: operations.free-lunch: unknown term"},
		{"bad type", "  disclosure-delay-hours: 24", "  disclosure-delay-hours: soon", "line 42: operations.disclosure-delay-hours: \"soon\" is not a whole number"},
		{"unknown class", "max-class: C3-I3-A3", "max-class: C5-I3-A3", "line 30: data.max-class: invalid classification"},
		{"bad enum", "hub: private", "hub: palace", "line 19: hub: \"palace\" is not one of private, extended, virtual"},
		{"expires before effective", "expires: 2030-05-16", "expires: 2017-05-16", "term.expires: 2017-05-16 is not after term.effective"},
		{"host outside residency", "jurisdictions: [LU]", "jurisdictions: [DE]", "line 33: residency.jurisdictions: [DE] does not include the host state LU"},
		{"same state", "state: LU", "state: EE", "the host state is the sending state"},
		{"missing basis", "  basis: Agreement", "  basisx: Agreement", "legal.basisx: unknown term"},
		{"duplicate", "hub: private", "hub: private\nhub: virtual", "line 20: hub: stated twice"},
		{"bad key", "name: Republic of Estonia\n    key: ed25519:", "name: Republic of Estonia\n    key: rsa:", "parties.sending.key: \"rsa:"},
		{"private hub without premises", "    premises: true", "    premises: false", "line 24: legal.immunities.premises: a private hub needs inviolable premises"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.Replace(good, tc.from, tc.to, 1)
			if doc == good {
				t.Fatalf("replacement %q not found", tc.from)
			}
			_, err := Parse([]byte(doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add(example(f, "ee-lu"))
	f.Add(example(f, "noncompliant"))
	f.Add([]byte("format: embassy-agreement/v1\nid: x\nhub: [a, b]\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		a, err := Parse(doc)
		if err != nil {
			return
		}
		// A parsed agreement always has both parties, and its signing bytes
		// are stable across a re-encode.
		if a.Sending() == nil || a.Host() == nil {
			t.Fatal("parsed without parties")
		}
		re, err := SetSignature(doc, Sending, make([]byte, 64))
		if err != nil {
			return
		}
		b, err := Parse(re)
		if err != nil {
			t.Fatalf("re-encoded document does not parse: %v", err)
		}
		if string(SigningBytes(a)) != string(SigningBytes(b)) {
			t.Fatalf("signing bytes changed by re-encoding")
		}
	})
}

var update = flag.Bool("update", false, "rewrite golden files")

// TestJSONSchema keeps docs/agreement.schema.json in step with Terms.
func TestJSONSchema(t *testing.T) {
	p := filepath.Join("..", "..", "docs", "agreement.schema.json")
	got := JSONSchema()
	if *update {
		os.WriteFile(p, got, 0o644)
	}
	want, err := os.ReadFile(p)
	if err != nil || string(want) != string(got) {
		t.Fatalf("docs/agreement.schema.json is stale: run go test ./internal/agreement -update (%v)", err)
	}
}

// The dispute mechanism and technology-stack immunity are terms like any
// other (issue 18 #1): stated, inherited from the baseline when not, and
// the host state's courts loosen the baseline (arbitration) so they need
// a signed override.
func TestDisputeMechanismAndTechnologyStack(t *testing.T) {
	base := DefaultBaseline()
	a, err := Parse(signBoth(t, example(t, "ee-lu")))
	if err != nil {
		t.Fatal(err)
	}
	res := Resolve(a, base)
	if v := res["legal.dispute-mechanism"]; v.Value.Raw != "arbitration" || v.Source == FromAgreement {
		t.Errorf("inherited dispute mechanism: %+v", v)
	}
	if v := res["legal.immunities.technology-stack"]; v.Value.Raw != "false" {
		t.Errorf("inherited technology-stack immunity: %+v", v)
	}
	stated := strings.Replace(string(example(t, "ee-lu")), "  emergency-access: physical-only\n",
		"  emergency-access: physical-only\n  dispute-mechanism: diplomatic\n", 1)
	stated = strings.Replace(stated, "    communications: true\n", "    communications: true\n    technology-stack: true\n", 1)
	a, err = Parse(signBoth(t, []byte(stated)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckBaseline(a, base); err != nil {
		t.Errorf("diplomatic settlement and a stack immunity tighten the baseline: %v", err)
	}
	if r := Resolve(a, base); r["legal.dispute-mechanism"].Value.Raw != "diplomatic" || r["legal.immunities.technology-stack"].Value.Raw != "true" {
		t.Errorf("stated terms: %+v %+v", r["legal.dispute-mechanism"], r["legal.immunities.technology-stack"])
	}
	courts := strings.Replace(stated, "dispute-mechanism: diplomatic", "dispute-mechanism: host-courts", 1)
	a, err = Parse(signBoth(t, []byte(courts)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckBaseline(a, base); err == nil || !strings.Contains(err.Error(), "legal.dispute-mechanism: host-courts loosens the baseline arbitration") {
		t.Errorf("host courts without an override: %v", err)
	}
	bad := strings.Replace(stated, "dispute-mechanism: diplomatic", "dispute-mechanism: duel", 1)
	if _, err := Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), "legal.dispute-mechanism") {
		t.Errorf("unknown mechanism: %v", err)
	}
}
