package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/sample"
)

const quickstartMarker = "Digital Embassy quickstart demo"

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

// sub runs another embassy command in-process against the same home.
func (e *env) sub(out io.Writer, args ...string) error {
	e2 := &env{ctx: e.ctx, stdin: e.stdin, stdout: out, stderr: e.stderr}
	root := newRoot(e2)
	full := append([]string{"--home", e.homeDir, "--progress", e.progress, "--log-level", "error"}, args...)
	root.SetArgs(full)
	root.SetOut(out)
	root.SetErr(e.stderr)
	if err := root.ExecuteContext(e.ctx); err != nil {
		return err
	}
	if e2.warned {
		e.warned = true
	}
	return nil
}

func (e *env) quickstart(dir string, rows, docs int) error {
	start := time.Now()
	e.homeDir = dir
	qs := filepath.Join(dir, "quickstart")
	say := func(format string, a ...any) { e.printf(format+"\n", a...) }
	if home.Exists(dir) {
		h, err := home.Open(dir)
		if err != nil {
			return err
		}
		if h.Config.Description != quickstartMarker {
			return hint.Wrap(fmt.Errorf("%s holds a real home, not a quickstart demo", dir),
				"run the demo in its own folder: embassy --home /tmp/embassy-demo quickstart")
		}
		say("Reusing the quickstart home in %s.", dir)
	} else {
		if err := os.MkdirAll(filepath.Join(qs, "custodians"), 0o700); err != nil {
			return err
		}
		say("1. Creating three custodians (hybrid post-quantum age identities, ML-KEM-768 + X25519)")
		var recips []string
		for _, name := range []string{"alice", "bob", "carol"} {
			f := filepath.Join(qs, "custodians", name+".key")
			if _, err := os.Stat(f); err != nil {
				var buf bytes.Buffer
				if err := e.sub(&buf, "custodian", "keygen", "-o", f); err != nil {
					return err
				}
			}
			var buf bytes.Buffer
			if err := e.sub(&buf, "custodian", "show", f); err != nil {
				return err
			}
			recips = append(recips, strings.TrimSpace(buf.String()))
			say("   %-6s %s", name, f)
		}
		say("2. Creating the home with a root key split 2-of-3 among them")
		args := []string{"init", "--threshold", "2", "--description", quickstartMarker, "--state", "EE", "--location", "59.437,24.754"}
		for _, r := range recips {
			args = append(args, "--custodian", r)
		}
		if err := e.sub(io.Discard, args...); err != nil {
			return err
		}
	}
	h, err := home.Open(dir)
	if err != nil {
		return err
	}
	sites := []struct{ name, cc, city, loc string }{{"lu-1", "LU", "Luxembourg", "49.611,6.130"}, {"ch-1", "CH", "Geneva", "46.204,6.143"}}
	say("3. Two storage sites standing for embassies abroad:")
	for _, s := range sites {
		p := filepath.Join(qs, "sites", s.name)
		if sc, _ := h.Site(s.name); sc == nil {
			if err := e.sub(io.Discard, "site", "add", s.name, "--url", p, "--jurisdiction", s.cc, "--location", s.loc, "--tier", "4", "--operator", s.city+" government data centre"); err != nil {
				return err
			}
		}
		say("   %-5s %s (%s, %.0f km from Tallinn)  %s", s.name, s.cc, s.city, home.DistanceKm("59.437,24.754", s.loc), p)
	}
	src := filepath.Join(qs, "registry")
	opt := sample.DefaultOptions()
	opt.Rows, opt.Documents = rows, docs
	st, err := sample.Generate(src, opt)
	if err != nil {
		if errors.Is(err, sample.ErrForeign) {
			return hint.Wrap(err, "the quickstart registry folder was changed by hand; delete "+src+" and run quickstart again")
		}
		return err
	}
	say("4. Generated a synthetic national registry: %d population rows, %d scanned documents, %d files, %s", st.Rows, st.Documents, st.Files, humanBytes(st.Bytes))
	var snapOut bytes.Buffer
	if err := e.sub(&snapOut, "--json", "snapshot", "population-register", src, "--class", "C2-I3-A3"); err != nil {
		return err
	}
	var snap struct {
		ID    string `json:"id"`
		Stats struct {
			NewStored int64   `json:"new_stored"`
			NewRaw    int64   `json:"new_raw"`
			Duration  float64 `json:"duration_sec"`
		} `json:"stats"`
	}
	_ = json.Unmarshal(snapOut.Bytes(), &snap)
	say("5. Snapshot %s of dataset population-register (class C2-I3-A3) written to both sites:", short(snap.ID))
	say("   %s of new data stored as %s after deduplication, compression and sealing, in %.1fs", humanBytes(snap.Stats.NewRaw), humanBytes(snap.Stats.NewStored), snap.Stats.Duration)
	if err := e.sub(io.Discard, "verify", "--read-data"); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	say("6. Verified every object at both sites: hashes, signatures and authenticated encryption all check out")
	old, _ := filepath.Glob(filepath.Join(qs, "restore-*"))
	for _, o := range old {
		os.RemoveAll(o)
	}
	target := filepath.Join(qs, "restore-"+time.Now().UTC().Format("20060102-150405.000"))
	if err := e.sub(io.Discard, "restore", "population-register@"+snap.ID, "--target", target); err != nil {
		return err
	}
	n, err := compareTrees(src, target)
	if err != nil {
		return fmt.Errorf("restored copy differs from the source: %w", err)
	}
	say("7. Restored into %s and compared: %d files identical byte for byte, with modes and times", target, n)
	var logOut bytes.Buffer
	if err := e.sub(&logOut, "--json", "log"); err == nil {
		var entries []json.RawMessage
		if json.Unmarshal(logOut.Bytes(), &entries) == nil {
			say("8. Every step is in the home's transparency log: %d entries, each checkpoint cosigned by the home's Ed25519 and ML-DSA-44 witnesses", len(entries))
		}
	}
	say("")
	say("Done in %.1fs. Where everything lives:", time.Since(start).Seconds())
	say("   home (config, root key)    %s", dir)
	say("   custodian identities       %s", filepath.Join(qs, "custodians"))
	say("   sites                      %s", filepath.Join(qs, "sites"))
	say("   sample registry            %s", src)
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

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// compareTrees checks that b is an exact copy of a: same entries, types,
// contents, permissions, modification times and symlink targets.
func compareTrees(a, b string) (int, error) {
	n := 0
	err := filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		q := filepath.Join(b, rel)
		fa, err := os.Lstat(p)
		if err != nil {
			return err
		}
		fb, err := os.Lstat(q)
		if err != nil {
			return fmt.Errorf("%s missing from the copy", rel)
		}
		if fa.Mode() != fb.Mode() {
			return fmt.Errorf("%s: mode %v, copy has %v", rel, fa.Mode(), fb.Mode())
		}
		if !fa.IsDir() && fa.Mode()&fs.ModeSymlink == 0 && !fa.ModTime().Equal(fb.ModTime()) {
			return fmt.Errorf("%s: modified %v, copy has %v", rel, fa.ModTime(), fb.ModTime())
		}
		switch {
		case fa.Mode()&fs.ModeSymlink != 0:
			ta, _ := os.Readlink(p)
			tb, _ := os.Readlink(q)
			if ta != tb {
				return fmt.Errorf("%s: symlink target differs", rel)
			}
		case fa.Mode().IsRegular():
			ha, err := fileHash(p)
			if err != nil {
				return err
			}
			hb, err := fileHash(q)
			if err != nil {
				return err
			}
			if ha != hb {
				return fmt.Errorf("%s: content differs", rel)
			}
			n++
		}
		return nil
	})
	return n, err
}

func fileHash(p string) ([32]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return [32]byte{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return [32]byte{}, err
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out, nil
}
