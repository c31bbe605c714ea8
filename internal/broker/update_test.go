package broker_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/broker"
	"github.com/digital-embassy/embassy/internal/broker/tpmquote"
	"github.com/digital-embassy/embassy/internal/supply"
)

// The update gate sees the verified measurements and the dataset's class,
// after the broker's own rules allowed the release; its refusal is code
// "update", logged as a key.refuse with that reason.
func TestUpdateGateRefusesUnapprovedFirmware(t *testing.T) {
	f := newFixture(t)
	rd := make([]byte, 32)
	ev, err := f.att.Quote(rd)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tpmquote.Verify(ev, rd)
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	fw1, err := supply.Sign(supply.Approval{Home: "fp1-0000-0000-0000-0000-0000-0000-0000-0001", Epoch: 1, Artifact: "lu-firmware",
		Measurements: map[string]string{"pcr.sha256.0": c.Measurements["pcr.sha256.0"]}, Issued: f.now.Add(-time.Hour), NotAfter: f.now.Add(24 * time.Hour)}, key)
	if err != nil {
		t.Fatal(err)
	}
	set := &supply.Set{Approvals: []*supply.Signed{fw1}, Revoked: map[string]supply.Revocation{}}
	var seen []string
	f.upd = broker.UpdateGateFunc(func(_ context.Context, dataset, class string, m map[string]string) error {
		seen = append(seen, dataset)
		if fd := set.CheckMeasurements(m, f.now); !fd.OK() {
			return errors.New(fd.Detail)
		}
		return nil
	})
	f.start()
	if _, _, err := f.client().Fetch(context.Background(), f.att, "weights"); err != nil {
		t.Fatalf("approved firmware: %v", err)
	}
	// The provider updates the firmware (PCR 0 changes); the broker's
	// administrator even publishes matching reference values. The sending
	// state approved no such update: refused.
	if err := f.att.Measure(0, []byte("vendor firmware 2.1")); err != nil {
		t.Fatal(err)
	}
	f.publish("inference-v2", true)
	f.write(broker.ReleaseFile, "rules:\n  - name: weights-inference\n    datasets: [weights]\n    tee: [tpm-sim]\n    refs: [inference-v1, inference-v2]\n    sites: [lu-1]\n")
	f.refused("weights", "update", "pcr.sha256.0 is")
	// Approval withdrawn for the old firmware does not matter; the new one
	// approved, the release goes through.
	q, _ := f.att.Quote(rd)
	c2, _ := tpmquote.Verify(q, rd)
	fw2, err := supply.Sign(supply.Approval{Home: fw1.Home, Epoch: 1, Artifact: "lu-firmware",
		Measurements: map[string]string{"pcr.sha256.0": c2.Measurements["pcr.sha256.0"]}, Issued: f.now.Add(-time.Minute), NotAfter: f.now.Add(time.Hour)}, key)
	if err != nil {
		t.Fatal(err)
	}
	set.Approvals = append(set.Approvals, fw2)
	if _, _, err := f.client().Fetch(context.Background(), f.att, "weights"); err != nil {
		t.Fatalf("approved firmware update: %v", err)
	}
	set.Revoked[fw2.ID] = supply.Revocation{ID: fw2.ID, Reason: "recalled"}
	f.refused("weights", "update", "revoked")
	if len(seen) != 4 {
		t.Fatalf("the update gate was asked %d times, want 4 (once per release the rules allowed)", len(seen))
	}
}
