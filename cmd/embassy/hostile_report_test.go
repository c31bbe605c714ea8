package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/evidence"
)

// Item 10: a drill report endorsed by an invented epoch key of the real
// home must not verify.
func TestHostileReportEndorsedByInventedEpoch(t *testing.T) {
	f := newFixture(t)
	var ks struct {
		Home string `json:"home"`
	}
	json.Unmarshal([]byte(f.run("--json", "key", "status")), &ks)
	_, signer, _ := ed25519.GenerateKey(rand.Reader)
	_, invented, _ := ed25519.GenerateKey(rand.Reader)
	body := map[string]any{"plan": "game-day", "home": ks.Home, "pass": true, "started": time.Now().UTC()}
	for _, epoch := range []uint32{1, 7} {
		d, err := evidence.Sign(evidence.KindDrillReport, body, signer, ks.Home, epoch, invented)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(d)
		p := filepath.Join(f.dir, "forged-report.json")
		os.WriteFile(p, b, 0o644)
		nohome := &fixture{t: t, dir: f.dir, home: filepath.Join(f.dir, "nohome")}
		what := fmt.Sprintf("report endorsed by an invented epoch %d key", epoch)
		wantRun(t, what+", no home", nohome.try("drill", "verify", p).masked(), 3, nil, lines{
			fmt.Sprintf("embassy: error: report is endorsed by home hHHHHHHHHHHHHHHHHHHHH key epoch %d, which cannot be checked here: signature does not verify", epoch),
			"embassy: hint: give --site URL of a site of that home so that its signed key epochs can be checked",
		})
		forged := lines{
			"embassy: error: endorsed by a key that is not home hHHHHHHHHHHHHHHHHHHHH's epoch 1 key: signature does not verify",
			"embassy: hint: the report was not endorsed by a key the home held at the time: do not trust it",
		}
		if epoch == 7 {
			forged[0] = "embassy: error: endorsed by key epoch 7, which home hHHHHHHHHHHHHHHHHHHHH never had: signature does not verify"
		}
		wantRun(t, what+", no home, --site", nohome.try("drill", "verify", "--site", filepath.Join(f.dir, "site-a"), p).masked(), 3, nil, forged)
		wantRun(t, what+", at the home", f.try("drill", "verify", p).masked(), 3, nil, forged) // its own epochs

	}
}
