package assess

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/site"
)

func TestClassify(t *testing.T) {
	random := make([]byte, 4096)
	rand.Read(random)
	plain := bytes.Repeat([]byte("38501012231,Mari,Tamm,Tallinn\n"), 100)
	for _, tc := range []struct {
		h    site.Handle
		head []byte
		want string
	}{
		{site.Handle{Kind: site.KindPack, Name: "x/ab/abcd"}, random, ""},
		{site.Handle{Kind: site.KindPack, Name: "x/ab/abcd"}, plain, "looks like plaintext"},
		{site.Handle{Kind: site.KindSnapshot, Name: "x/abcd"}, []byte("short"), ""},
		{site.Handle{Kind: site.KindKey, Name: "shares/e00000001/001"}, []byte("age-encryption.org/v1\n-> mlkem768x25519"), ""},
		{site.Handle{Kind: site.KindKey, Name: "shares/e00000001/001"}, []byte(`{"share":"..."}`), "not age-encrypted"},
		{site.Handle{Kind: site.KindKey, Name: "datasets/0123456789abcdef0123456789abcdef/v000001.e00000001"}, random[:1200], ""},
		{site.Handle{Kind: site.KindKey, Name: "datasets/0123456789abcdef0123456789abcdef/v000001.e00000001"}, plain, "does not look encrypted"},
		{site.Handle{Kind: site.KindKey, Name: "root-00000001.key"}, random, "unexpected key object"},
		{site.Handle{Kind: site.KindConfig, Name: "repo"}, []byte(`{"body":{"home":"h1","sign_key":"abc"}}`), ""},
		{site.Handle{Kind: site.KindConfig, Name: "repo"}, []byte(`{"body":{"home":"h1","private_key":"abc"}}`), "secret or private field"},
		{site.Handle{Kind: site.KindConfig, Name: "backup"}, nil, "unexpected configuration object"},
	} {
		got := Classify(tc.h, tc.head)
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("Classify(%v) = %q, want %q", tc.h, got, tc.want)
		}
	}
}

type fakeEvidence struct{ d []Disclosure }

func (f fakeEvidence) Disclosures() ([]Disclosure, bool) { return f.d, true }
func (f fakeEvidence) Incidents() ([]Incident, bool)     { return nil, false }

func TestDisclosures(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	in := Input{Now: now}
	if c := in.disclosures(24, true); c.Status != NoEvidence {
		t.Errorf("no evidence: %+v", c)
	}
	in.Evidence = fakeEvidence{[]Disclosure{
		{Site: "lu", Accessed: now.Add(-48 * time.Hour), Disclosed: now.Add(-40 * time.Hour)},
		{Site: "lu", Accessed: now.Add(-30 * time.Hour)}, // not disclosed, overdue
	}}
	if c := in.disclosures(24, true); c.Status != Fail || !strings.Contains(c.Evidence, "1 of 2") {
		t.Errorf("late: %+v", c)
	}
	in.Evidence = fakeEvidence{[]Disclosure{{Site: "lu", Accessed: now.Add(-2 * time.Hour)}}}
	if c := in.disclosures(24, true); c.Status != Pass {
		t.Errorf("in time: %+v", c)
	}
}
