package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/digital-embassy/embassy/internal/tlog"
)

// TestPartsAndWantedDocuments: the parts an audit bundle must list and
// the documents its entries name are computed from the entries alone.
func TestPartsAndWantedDocuments(t *testing.T) {
	sum := sha256.Sum256([]byte("require-agreement: true\n"))
	ents := []tlog.Indexed{
		{Index: 0, Entry: tlog.Entry{Kind: tlog.KindKeyUnwrap}},
		{Index: 1, Entry: tlog.Entry{Kind: tlog.KindKeyRelease}},
		{Index: 2, Entry: tlog.Entry{Kind: tlog.KindKeyRefuse}},
		{Index: 3, Entry: tlog.DrillEntry(tlog.DrillFacts{Plan: "p", Report: "ff"})},
		{Index: 4, Entry: tlog.ConfigChangeEntry("policy.yaml", hex.EncodeToString(sum[:]), 24)},
		{Index: 5, Entry: tlog.ConfigChangeEntry("watch.yaml", "", 0)},
		{Index: 6, Entry: tlog.Entry{Kind: tlog.KindAgreementChange}},
		{Index: 7, Entry: tlog.Entry{Kind: tlog.KindSnapshot}},
	}
	p := PartsOf(ents)
	if len(p.KeyUse) != 1 || len(p.Attestation) != 2 || len(p.Drills) != 1 || len(p.Config) != 3 {
		t.Fatalf("parts %+v", p)
	}
	w := WantedDocuments(ents)
	if len(w) != 2 || w[0].Kind != DocDrillReport || w[0].Digest != "ff" || w[1].Name != "policy.yaml" {
		t.Fatalf("wanted %+v", w)
	}
}

// FuzzVerifyAudit: an audit bundle comes from whoever hands it to the
// auditor; no input panics, and only a bundle whose log verifies is
// accepted.
func FuzzVerifyAudit(f *testing.F) {
	f.Add([]byte(`{"format":"digital-embassy.org/audit-bundle@v1","log":{},"parts":{},"documents":[]}`))
	f.Add([]byte(`{"format":"digital-embassy.org/audit-bundle@v1","log":null}`))
	f.Add([]byte(`{"format":"x"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"format":"digital-embassy.org/audit-bundle@v1","log":{"format":"digital-embassy.org/tlog-bundle@v2"},"parts":{"key_use":[1]},"documents":[{"index":1,"kind":"config","content":"eA=="}],"unavailable":[{"index":2}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := VerifyAudit(data, nil, nil)
		if err == nil && res.Log == nil {
			t.Fatal("accepted without a verified log")
		}
		_ = IsAudit(data)
		if err != nil && errors.Is(err, ErrAuditIncomplete) && res != nil {
			t.Fatal("result with an error")
		}
	})
}
