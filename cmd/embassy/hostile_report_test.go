package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
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
		for _, run := range []runResult{
			nohome.try("drill", "verify", p),
			nohome.try("drill", "verify", "--site", filepath.Join(f.dir, "site-a"), p),
			f.try("drill", "verify", p), // on the home machine: its own epochs
		} {
			if run.code != 3 || !strings.Contains(run.stderr, "signature does not verify") {
				t.Fatalf("report endorsed by an invented epoch %d key: exit %d\n%s%s", epoch, run.code, run.stdout, run.stderr)
			}
		}
	}
}
