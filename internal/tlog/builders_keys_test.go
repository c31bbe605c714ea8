package tlog

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestKeyAndExitBuilders pins the shape of the key and exit entries
// (docs/formats/tlog.md, docs/formats/exit.md §6): each builder's entry is
// as documented, valid, and survives the leaf encoding unchanged.
func TestKeyAndExitBuilders(t *testing.T) {
	at := time.Date(2026, 11, 25, 8, 10, 0, 0, time.UTC)
	deadline := time.Date(2027, 2, 23, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		got, want Entry
	}{
		{KeyRotate(3, 2, 9), Entry{Kind: KindKeyRotate, Object: "3", Details: map[string]string{"datasets": "2", "retired_objects": "9"}}},
		{KeyShred(ShredFacts{DatasetID: "d1", KeysDeleted: 1, Objects: 4, NewEpoch: 4, For: "exit"}),
			Entry{Kind: KindKeyShred, Dataset: "d1", Details: map[string]string{"wrapped_keys_deleted": "1", "objects_deleted": "4", "new_epoch": "4", "for": "exit"}}},
		{KeyShred(ShredFacts{DatasetID: "d1", NewEpoch: 4}),
			Entry{Kind: KindKeyShred, Dataset: "d1", Details: map[string]string{"wrapped_keys_deleted": "0", "objects_deleted": "0", "new_epoch": "4"}}},
		{DisclosureEntry(DisclosureFacts{Site: "lu", Who: "tech 4411", What: "rack B3", Reason: "host_initiated_service", Access: "physical", At: at, Ticket: "CHG-1"}),
			Entry{Kind: KindDisclosure, Site: "lu", Actor: "tech 4411", Object: "rack B3", Reason: ReasonHostService,
				Details: map[string]string{DetailAccess: "physical", DetailAt: "2026-11-25T08:10:00Z", DetailTicket: "CHG-1"}}},
		{Exit(ExitFacts{Site: "lu", Phase: ExitPhaseStart, Deadline: deadline}),
			Entry{Kind: KindExit, Site: "lu", Details: map[string]string{"phase": "start", "deadline": "2027-02-23T10:00:00Z"}}},
		{Exit(ExitFacts{Site: "lu", Phase: ExitPhaseCancel, Deadline: deadline}),
			Entry{Kind: KindExit, Site: "lu", Details: map[string]string{"phase": "cancel", "deadline": "2027-02-23T10:00:00Z"}}},
		{Exit(ExitFacts{Site: "lu", Phase: ExitPhaseDone, Manifest: "ab12", Objects: 14, Bytes: 2048, Deleted: 14, Signer: "site", Shredded: []string{"d1", "d2"}, Deadline: deadline}),
			Entry{Kind: KindExit, Site: "lu", Object: "ab12", Details: map[string]string{"phase": "done", "deadline": "2027-02-23T10:00:00Z",
				"objects": "14", "bytes": "2048", "deleted": "14", "kept_data": "false", "certificate_signer": "site", "shredded": "d1,d2"}}},
	}
	for _, c := range cases {
		if d := cmp.Diff(c.want, c.got); d != "" {
			t.Errorf("%s entry (-want +got):\n%s", c.want.Kind, d)
			continue
		}
		e := c.got
		e.V, e.Time, e.Home = Version, at, "home-kat"
		if e.Actor == "" {
			e.Actor = "home"
		}
		if err := e.Validate(); err != nil {
			t.Errorf("%s entry invalid: %v", e.Kind, err)
		}
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := UnmarshalEntry(b)
		if err != nil || !cmp.Equal(e, back) {
			t.Errorf("%s entry does not round-trip: %v\n%s", e.Kind, err, cmp.Diff(e, back))
		}
	}
}
