package cli

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdQuickstart(e *env) *cobra.Command {
	var rows, docs int
	c := &cobra.Command{
		Use:   "quickstart",
		Short: "Run the whole cycle on local folders: keys, sites, snapshot, verify, restore",
		Long: `Set up a demonstration home and run the vault's main job end to end:

  1. three custodian identities (hybrid post-quantum) and a 2-of-3 root key
  2. two local sites standing for embassies in two jurisdictions (LU, CH)
  3. a synthetic national registry: a population register of 100,000 rows,
     a land register and a folder of scanned-document-like files
  4. an encrypted, deduplicated snapshot written to both sites
  5. verification of every object at both sites
  6. a restore into a scratch folder, proven byte-identical to the source

Everything lives under the demo's own home folder: --home (or EMBASSY_HOME)
if given, else "embassy-quickstart" next to the default home, so that a
later 'embassy init' of your real home is not in its way. Running it again
reuses the demo home and takes a new (deduplicated) snapshot; remove the
folder to remove the demo.`,
		Example: `  go run ./cmd/embassy quickstart
  embassy --home /tmp/embassy-demo quickstart`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := e.homePath()
			if err != nil {
				return err
			}
			if e.homeDir == "" {
				// Not in the default home: the newcomer's real 'init' goes there.
				dir += "-quickstart"
			}
			return e.quickstart(dir, rows, docs)
		},
	}
	c.Flags().IntVar(&rows, "rows", 100_000, "rows of the synthetic population register")
	c.Flags().IntVar(&docs, "documents", 40, "number of scanned-document-like files")
	return c
}

func (e *env) quickstart(dir string, rows, docs int) error {
	start := time.Now()
	e.homeDir = dir
	say := func(format string, a ...any) { e.printf(format+"\n", a...) }
	o := e.vaultOptions()
	o.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelError})) // the steps' diagnostics: errors only
	req := vault.QuickstartRequest{Dir: dir, Rows: rows, Documents: docs, Options: o, Owners: os.Geteuid() == 0,
		SnapshotProgress: &vault.Progress{}, RestoreProgress: &vault.RestoreProgress{}, CopyProgress: e.copyProgress()}
	var done, total atomic.Int64
	req.VerifyProgress = func(d, t int64) { done.Store(d); total.Store(t) }
	var b *bar
	req.Step = func(step vault.QuickstartStep, r *vault.QuickstartResult) {
		switch step {
		case vault.QuickstartReused:
			say("Reusing the quickstart home in %s.", dir)
		case vault.QuickstartCustodians:
			say("1. Creating three custodians (hybrid post-quantum age identities, ML-KEM-768 + X25519)")
		case vault.QuickstartCustodianReady:
			c := r.Custodians[len(r.Custodians)-1]
			say("   %-6s %s", c.Name, c.File)
		case vault.QuickstartInit:
			say("2. Creating the home with a root key split 2-of-3 among them")
		case vault.QuickstartSites:
			say("3. Two storage sites standing for embassies abroad:")
		case vault.QuickstartSiteReady:
			s := r.Sites[len(r.Sites)-1]
			say("   %-5s %s (%s, %.0f km from Tallinn)  %s", s.Name, s.Jurisdiction, s.City, s.DistanceKm, s.Path)
		case vault.QuickstartSample:
			st := r.Sample
			say("4. Generated a synthetic national registry: %d population rows, %d scanned documents, %d files, %s", st.Rows, st.Documents, st.Files, humanBytes(st.Bytes))
		case vault.QuickstartSnapshotBegin:
			b = e.newBar("snapshot", func() (int64, int64) {
				return req.SnapshotProgress.Bytes.Load(), req.SnapshotProgress.TotalBytes.Load()
			})
		case vault.QuickstartSnapshotDone:
			b.done()
			res := r.Snapshot
			for _, n := range res.Notes {
				fmt.Fprintf(e.stderr, "embassy: note: %s\n", n)
			}
			for _, s := range res.Skipped {
				e.warnf("not in snapshot: %v", s)
			}
			e.noteDenied(res.Placement.Denied)
			e.reportSites(r.Repo)
			st := res.Stats
			say("5. Snapshot %s of dataset %s (class %s) written to both sites:", res.ID.Short(), vault.QuickstartDataset, vault.QuickstartClass)
			say("   %s of new data stored as %s after deduplication, compression and sealing, in %.1fs", humanBytes(st.NewRaw), humanBytes(st.NewStored), st.DurationSec)
		case vault.QuickstartVerifyBegin:
			b = e.newBar("verify", func() (int64, int64) { return done.Load(), total.Load() })
		case vault.QuickstartVerified:
			b.done()
			say("6. Verified every object at both sites: hashes, signatures and authenticated encryption all check out")
		case vault.QuickstartRestoreBegin:
			b = e.newBar("restore", func() (int64, int64) { return req.RestoreProgress.Bytes.Load(), req.RestoreProgress.TotalBytes.Load() })
		case vault.QuickstartRestored:
			b.done()
			e.noteDenied(r.Restore.Denied)
			e.reportSites(r.Repo)
			for _, n := range r.Restore.Stats.Notes {
				fmt.Fprintf(e.stderr, "embassy: note: %s\n", n)
			}
			say("7. Restored into %s and compared: %d files identical byte for byte, with modes and times", r.Target, r.Identical)
		case vault.QuickstartLogged:
			say("8. Every step is in the home's transparency log: %d entries, each checkpoint cosigned by the home's Ed25519 and ML-DSA-44 witnesses", r.LogEntries)
		}
	}
	res, err := vault.Quickstart(e.ctx, req)
	if b != nil {
		b.done()
	}
	if err != nil {
		return err
	}
	qs := res.Work
	say("")
	say("Done in %.1fs. Where everything lives:", time.Since(start).Seconds())
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
	say("   embassy --home /tmp/recovered recover --site %s --expect-home FINGERPRINT --identity %s --identity %s   # FINGERPRINT: 'embassy%s key status'",
		filepath.Join(qs, "sites", "ch-1"), filepath.Join(qs, "custodians", "alice.key"), filepath.Join(qs, "custodians", "carol.key"), hf)
	say("   embassy%s log", hf)
	say("   embassy%s key rotate", hf)
	say("")
	say("The demo is self-contained: remove it with  rm -rf %s", dir)
	if def, err := home.DefaultDir(); err == nil && def != dir {
		say("Your real home goes elsewhere (%s by default): start it with 'embassy init'.", def)
	}
	return nil
}
