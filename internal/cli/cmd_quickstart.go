package cli

import (
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

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
	o := e.vaultOptions()
	o.Logger = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelError})) // the steps' diagnostics: errors only
	req := vault.QuickstartRequest{Dir: dir, Rows: rows, Documents: docs, Options: o, Owners: os.Geteuid() == 0,
		SnapshotProgress: &vault.Progress{}, RestoreProgress: &vault.RestoreProgress{}, CopyProgress: e.copyProgress()}
	b := e.quickstartSteps(&req)
	res, err := vault.Quickstart(e.ctx, req)
	b.done()
	if err != nil {
		return err
	}
	e.printQuickstartDone(dir, res, time.Since(start))
	return nil
}
