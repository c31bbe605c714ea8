package cli

import (
	"os"
	"path/filepath"
	"time"

	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/vault"
)

// printQuickstartDone is the end of 'embassy quickstart': where everything
// lives and what to try next, with --home when the demo home is not
// EMBASSY_HOME.
func (e *env) printQuickstartDone(dir string, res *vault.QuickstartResult, took time.Duration) {
	say := func(format string, a ...any) { e.printf(format+"\n", a...) }
	qs := res.Work
	say("")
	say("Done in %.1fs. Where everything lives:", took.Seconds())
	say("   home (config, root key)    %s", dir)
	say("   custodian identities       %s", filepath.Join(qs, "custodians"))
	say("   sites                      %s", filepath.Join(qs, "sites"))
	say("   sample registry            %s", res.Source)
	say("")
	say("Try next:")
	hf := ""
	if os.Getenv("EMBASSY_HOME") != dir {
		hf = " --home " + dir
	}
	say("   embassy%s snapshots", hf)
	say("   embassy%s ls population-register -r | head", hf)
	say("   embassy%s verify --read-data --json", hf)
	// the fingerprint recover pins, or where to read it
	fp, from := res.Fingerprint, ""
	if fp == "" {
		fp, from = "FINGERPRINT", "   # FINGERPRINT: 'embassy"+hf+" key status'"
	}
	say("   embassy --home /tmp/recovered recover --site %s --expect-home %s --identity %s --identity %s%s",
		filepath.Join(qs, "sites", "ch-1"), fp, filepath.Join(qs, "custodians", "alice.key"), filepath.Join(qs, "custodians", "carol.key"), from)
	say("   embassy%s log", hf)
	say("   embassy%s key rotate", hf)
	say("")
	say("The demo is self-contained: remove it with  rm -rf %s", dir)
	if def, err := home.DefaultDir(); err == nil && def != dir {
		say("Your real home goes elsewhere (%s by default): start it with 'embassy init'.", def)
	}
}
