package incident

import (
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/approval"
)

// FuzzHostRecord: a record as a daemon returns it (the host's word) is
// either refused or makes an entry of the site it was pulled from, with a
// known type and plain text.
func FuzzHostRecord(f *testing.F) {
	f.Add("0123456789abcdef0123456789abcdef", "physical", "duty officer", "UPS fire", "ee/role/operator/ops", int64(3600), int64(0))
	f.Add("0123456789ABCDEF0123456789abcdef", "security", "x", "y", "o", int64(0), int64(0))
	f.Add("0123456789abcdef0123456789abcdef", "legal-process", "x\x1b[2J", "\u202e", "o", int64(-60), int64(1))
	filed := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, id, typ, reporter, what, by string, ago, filedOff int64) {
		r := HostRecord{ID: id, HostFiling: HostFiling{Type: typ, Reporter: reporter, What: what, Occurred: filed.Add(-time.Duration(ago) * time.Second)},
			FiledBy: by, Filed: filed.Add(time.Duration(filedOff) * time.Second)}
		if r.Check() != nil {
			return
		}
		e, err := HostEntry("lu", r)
		if err != nil {
			t.Fatalf("checked record makes no entry: %v", err)
		}
		if e.Site != "lu" || e.Details[DetailID] != id || !approval.ValidID(id) || !approval.PlainText(e.Object+e.Actor) || strings.ContainsAny(e.Object, "\x1b\n") {
			t.Fatalf("entry %+v from %+v", e, r)
		}
	})
}
