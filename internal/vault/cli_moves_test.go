package vault

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/operate"
)

// TestGroupWitnessAlerts: repeats of one refusal (same witness, kind and
// message) are one group spanning the first to the last, counted with
// each alert's own repeat count; another message is another group.
func TestGroupWitnessAlerts(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	as := []WitnessAlert{
		{Time: t0.Add(time.Hour), Witness: "home", Kind: "rollback", Message: "m"},
		{Time: t0, Witness: "home", Kind: "rollback", Message: "m", Count: 3},
		{Time: t0.Add(2 * time.Hour), Witness: "home", Kind: "rollback", Message: "other"},
	}
	gs := GroupWitnessAlerts(as)
	if len(gs) != 2 {
		t.Fatalf("groups: %+v", gs)
	}
	if g := gs[0]; g.N != 4 || !g.First.Equal(t0) || !g.Last.Time.Equal(t0.Add(time.Hour)) {
		t.Errorf("first group: n=%d first=%v last=%v", g.N, g.First, g.Last.Time)
	}
	if g := gs[1]; g.N != 1 || g.Last.Message != "other" {
		t.Errorf("second group: %+v", g)
	}
}

// TestAddQuorumSignatures: signatures accumulate in the quorum file; a
// file that is not a quorum file is a usage error and is left as it was.
func TestAddQuorumSignatures(t *testing.T) {
	p := filepath.Join(t.TempDir(), "quorum.json")
	for want := 1; want <= 2; want++ {
		n, err := AddQuorumSignatures(p, []operate.CustodianSignature{{Index: uint16(want)}})
		if err != nil || n != want {
			t.Fatalf("add %d: n=%d err=%v", want, n, err)
		}
	}
	var q operate.QuorumRequest
	b, _ := os.ReadFile(p)
	if err := json.Unmarshal(b, &q); err != nil || len(q.Signatures) != 2 || q.Signatures[1].Index != 2 {
		t.Fatalf("quorum file: %v %s", err, b)
	}
	bad := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(bad, []byte("not json"), 0o644)
	if _, err := AddQuorumSignatures(bad, nil); hint.CodeOf(err) != hint.CodeUsage || hint.Of(err) == "" {
		t.Fatalf("not a quorum file: %v", err)
	}
	if b, _ := os.ReadFile(bad); string(b) != "not json" {
		t.Fatalf("not a quorum file was changed: %q", b)
	}
}

// TestCheckReportRefusesGarbage: bytes that are not a signed report are
// damage (exit 3), not a crash.
func TestCheckReportRefusesGarbage(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("{}"), []byte(`{"payload":"e30=","signatures":[]}`)} {
		if _, err := CheckReport(context.Background(), b, ReportCheckRequest{}); hint.CodeOf(err) != hint.CodeDamaged {
			t.Errorf("%q: %v", b, err)
		}
	}
}

// TestOpenURLSitesBadURL: a URL that does not open is a usage error naming it.
func TestOpenURLSitesBadURL(t *testing.T) {
	good := t.TempDir()
	_, closeAll, err := OpenURLSites(context.Background(), []string{good, "nosuchscheme://x"}, nil)
	closeAll()
	if hint.CodeOf(err) != hint.CodeUsage {
		t.Fatalf("bad URL: %v", err)
	}
	rs, closeAll, err := OpenURLSites(context.Background(), []string{good}, nil)
	if err != nil || len(rs) != 1 || rs[0].Name != "site-1" {
		t.Fatalf("good URL: %v %v", rs, err)
	}
	closeAll()
}
