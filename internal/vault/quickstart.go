package vault

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/sample"
)

// QuickstartMarker is the description of a quickstart demo's home: a home
// without it is a real one, and the quickstart refuses to touch it.
const QuickstartMarker = "Digital Embassy quickstart demo"

// The demo's dataset, its class and the home's position (Tallinn).
const (
	QuickstartDataset  = "population-register"
	QuickstartClass    = "C2-I3-A3"
	QuickstartLocation = "59.437,24.754"
)

// QuickstartSite is one of the demo's two local sites.
type QuickstartSite struct {
	Name, Jurisdiction, City, Location string
	Path                               string  // the site's folder
	DistanceKm                         float64 // from the home
}

// demoSites stand for embassies in two jurisdictions.
var demoSites = []QuickstartSite{
	{Name: "lu-1", Jurisdiction: "LU", City: "Luxembourg", Location: "49.611,6.130"},
	{Name: "ch-1", Jurisdiction: "CH", City: "Geneva", Location: "46.204,6.143"},
}

// QuickstartRequest is one run of the demo in Dir.
type QuickstartRequest struct {
	Dir             string
	Rows, Documents int     // the synthetic registry's size
	Options         Options // of every vault the demo opens
	Owners          bool    // restore file owners (root)
	// Step, if set, is called as each step begins and ends (see
	// QuickstartStep), with the result so far; entry points print from it.
	Step func(QuickstartStep, *QuickstartResult)
	// Progress of the steps that move data, for progress bars.
	SnapshotProgress *Progress
	RestoreProgress  *RestoreProgress
	VerifyProgress   func(done, total int64)
	CopyProgress     func(done, total int64)
}

// QuickstartStep is a point in the demo's run at which Step is called.
type QuickstartStep int

// The steps, in order; a demo home that exists skips the custodians and
// init (QuickstartReused instead).
const (
	QuickstartReused         QuickstartStep = iota // the demo home exists
	QuickstartCustodians                           // creating the custodians begins
	QuickstartCustodianReady                       // one custodian is ready (the last of Custodians)
	QuickstartInit                                 // creating the home begins
	QuickstartSites                                // adding the sites begins
	QuickstartSiteReady                            // one site is ready (the last of Sites)
	QuickstartSample                               // the registry is generated (Sample)
	QuickstartSnapshotBegin                        // the snapshot begins
	QuickstartSnapshotDone                         // the snapshot is committed (Snapshot, Repo)
	QuickstartVerifyBegin                          // verify --read-data begins
	QuickstartVerified                             // every object verified (Verify)
	QuickstartRestoreBegin                         // the restore begins
	QuickstartRestored                             // restored and compared (Restore, Target, Identical, Repo)
	QuickstartLogged                               // the log was read (LogEntries)
)

// QuickstartCustodian is one of the demo's custodians.
type QuickstartCustodian struct {
	Name, File, Recipient string
}

// QuickstartResult is what the demo did, filled in step by step.
type QuickstartResult struct {
	Dir         string // the demo's home
	Work        string // Dir/quickstart: custodians, sites, registry, restores
	Reused      bool
	Custodians  []QuickstartCustodian
	Sites       []QuickstartSite
	Source      string // the synthetic registry
	Sample      sample.Stats
	Snapshot    *SnapshotResult
	Verify      *repo.VerifyReport
	Target      string // the restore's folder
	Restore     *RestoreResult
	Identical   int        // files of the restore identical to the source
	LogEntries  int        // entries of the home's transparency log; -1 if it could not be read
	Fingerprint string     // the home's fingerprint, what recover --expect-home pins; "" if the root key could not be read
	Repo        *repo.Repo // the repository of the last step that opened one (closed), for its site reports
}

// Quickstart runs the demo end to end in req.Dir: three custodian
// identities and a home with a 2-of-3 root key (unless the demo home
// exists), two local sites, a synthetic registry, a snapshot of it, a
// verification of every object, a restore compared byte for byte with
// the source, and the log's size. Each step goes through the same
// operations as its command (Init, AddSite, Snapshot, Verify, Restore,
// Log), each on its own opened vault. A folder holding a real home is
// refused.
func Quickstart(ctx context.Context, req QuickstartRequest) (*QuickstartResult, error) {
	dir := req.Dir
	res := &QuickstartResult{Dir: dir, Work: filepath.Join(dir, "quickstart"), LogEntries: -1}
	step := func(s QuickstartStep) {
		if req.Step != nil {
			req.Step(s, res)
		}
	}
	clock := req.Options.Clock
	if clock == nil {
		clock = time.Now //nolint:forbidigo // the one default clock, as in New: callers that pin it pass Options.Clock
	}
	if home.Exists(dir) {
		h, err := home.Open(dir)
		if err != nil {
			return nil, err
		}
		if h.Config.Description != QuickstartMarker {
			return nil, hint.Wrap(fmt.Errorf("%s holds a real home, not a quickstart demo", dir),
				"run the demo in its own folder: embassy --home /tmp/embassy-demo quickstart")
		}
		res.Reused = true
		step(QuickstartReused)
	} else if err := quickstartHome(ctx, req, res, clock, step); err != nil {
		return nil, err
	}
	if err := quickstartSites(ctx, req, res, step); err != nil {
		return nil, err
	}
	res.Source = filepath.Join(res.Work, "registry")
	opt := sample.DefaultOptions()
	opt.Rows, opt.Documents = req.Rows, req.Documents
	st, err := sample.Generate(res.Source, opt)
	if err != nil {
		if errors.Is(err, sample.ErrForeign) {
			return nil, hint.Wrap(err, "the quickstart registry folder was changed by hand; delete "+res.Source+" and run quickstart again")
		}
		return nil, err
	}
	res.Sample = st
	step(QuickstartSample)
	if err := quickstartData(ctx, req, res, clock, step); err != nil {
		return nil, err
	}
	if h, err := home.Open(dir); err == nil {
		if root, err := h.LoadRoot(1); err == nil {
			res.Fingerprint = repo.HomeFingerprint(h.Config.Home, root.SigningPublicKey())
		}
		if lr, err := New(h, req.Options).Log(ctx, LogQuery{}); err == nil {
			res.LogEntries = len(lr.Entries)
			step(QuickstartLogged)
		}
	}
	return res, nil
}

// quickstartHome creates the custodians' identities (keeping any already
// in the demo's folder) and the home, with a root key split 2-of-3 among
// them and a custodian card for each.
func quickstartHome(ctx context.Context, req QuickstartRequest, res *QuickstartResult, clock func() time.Time, step func(QuickstartStep)) error {
	cdir := filepath.Join(res.Work, "custodians")
	if err := os.MkdirAll(cdir, 0o700); err != nil {
		return err
	}
	step(QuickstartCustodians)
	var recips []string
	for _, name := range []string{"alice", "bob", "carol"} {
		f := filepath.Join(cdir, name+".key")
		rec, err := quickstartIdentity(f, clock)
		if err != nil {
			return err
		}
		recips = append(recips, rec)
		res.Custodians = append(res.Custodians, QuickstartCustodian{Name: name, File: f, Recipient: rec})
		step(QuickstartCustodianReady)
	}
	step(QuickstartInit)
	cfg := home.Default()
	cfg.HomeState, cfg.HomeLocation = "EE", QuickstartLocation
	v, err := Init(ctx, InitRequest{Dir: res.Dir, Config: cfg, Custodians: recips, Threshold: 2, Description: QuickstartMarker}, req.Options)
	if err != nil {
		return err
	}
	homeID := v.Home.Config.Home
	root, err := v.Home.LoadRoot(1)
	if err != nil {
		return err
	}
	card := repo.Card{Home: homeID, Fingerprint: repo.HomeFingerprint(homeID, root.SigningPublicKey()), Threshold: 2, Of: len(recips), Created: clock()}
	_, err = WriteCustodianCards(recips, recips, "", res.Dir, card)
	return err
}

// quickstartIdentity returns the recipient of the custodian identity in
// file f, creating the identity (hybrid post-quantum) if f does not exist.
func quickstartIdentity(f string, clock func() time.Time) (string, error) {
	if _, err := os.Stat(f); err != nil {
		id, rec, err := keys.GenerateIdentity(false)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(f, keys.IdentityFile(id, rec, clock().UTC()), 0o600); err != nil {
			return "", err
		}
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return "", err
	}
	ids, err := keys.ParseIdentities(b)
	if err != nil {
		return "", hint.WithCode(fmt.Errorf("%s: %w", f, err), hint.CodeKey)
	}
	return keys.RecipientOf(ids[0]), nil
}

// quickstartSites adds the demo's sites the home does not have yet.
func quickstartSites(ctx context.Context, req QuickstartRequest, res *QuickstartResult, step func(QuickstartStep)) error {
	h, err := home.Open(res.Dir)
	if err != nil {
		return err
	}
	step(QuickstartSites)
	for _, s := range demoSites {
		s.Path = filepath.Join(res.Work, "sites", s.Name)
		s.DistanceKm = home.DistanceKm(QuickstartLocation, s.Location)
		if sc, _ := h.Site(s.Name); sc == nil {
			if err := quickstartAddSite(ctx, req, s); err != nil {
				return err
			}
		}
		res.Sites = append(res.Sites, s)
		step(QuickstartSiteReady)
	}
	return nil
}

func quickstartAddSite(ctx context.Context, req QuickstartRequest, s QuickstartSite) error {
	h, err := home.Open(req.Dir)
	if err != nil {
		return err
	}
	sc, err := CheckNewSite(h, home.SiteConfig{Name: s.Name, URL: s.Path, Jurisdiction: s.Jurisdiction, Location: s.Location, Tier: 4,
		Operator: s.City + " government data centre"})
	if err != nil {
		return err
	}
	o := req.Options
	o.WitnessTransport = WitnessTransport(h)
	v := New(h, o)
	defer v.Close()
	_, err = v.AddSite(ctx, AddSiteRequest{Site: sc, Progress: req.CopyProgress})
	return err
}

// quickstartData snapshots the registry, verifies every object at every
// site, restores the snapshot into a fresh folder (removing the earlier
// ones) and compares it with the source.
func quickstartData(ctx context.Context, req QuickstartRequest, res *QuickstartResult, clock func() time.Time, step func(QuickstartStep)) error {
	v, err := openQuickstart(ctx, res.Dir, true, req.Options)
	if err != nil {
		return err
	}
	step(QuickstartSnapshotBegin)
	snap, err := v.Snapshot(ctx, SnapshotRequest{Dataset: QuickstartDataset, Paths: []string{res.Source}, Class: QuickstartClass,
		Progress: req.SnapshotProgress, By: "snapshot"})
	v.Close()
	if err != nil {
		return err
	}
	res.Snapshot, res.Repo = snap, v.Repo
	step(QuickstartSnapshotDone)

	if v, err = openQuickstart(ctx, res.Dir, true, req.Options); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	step(QuickstartVerifyBegin)
	rep, err := v.Verify(ctx, repo.VerifyOptions{ReadData: true, Progress: req.VerifyProgress})
	closeSites(v.Repo)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if len(rep.Damage) > 0 {
		return fmt.Errorf("verify: %w", hint.WithCode(hint.Wrap(ProblemsFound(len(rep.Damage)),
			"restore still works while another site holds an intact copy; re-copy damaged objects with 'embassy site add' to a fresh site or repair the site"), hint.CodeDamaged))
	}
	res.Verify = rep
	step(QuickstartVerified)

	old, _ := filepath.Glob(filepath.Join(res.Work, "restore-*"))
	for _, o := range old {
		_ = os.RemoveAll(o)
	}
	res.Target = filepath.Join(res.Work, "restore-"+clock().UTC().Format("20060102-150405.000"))
	if v, err = openQuickstart(ctx, res.Dir, true, req.Options); err != nil {
		return err
	}
	step(QuickstartRestoreBegin)
	rr, err := v.Restore(ctx, RestoreRequest{Ref: QuickstartDataset + "@" + snap.ID.String(), Target: res.Target,
		Options: RestoreOptions{Owners: req.Owners, Progress: req.RestoreProgress}, By: "restore"})
	v.Close()
	if err != nil {
		return err
	}
	res.Restore, res.Repo = rr, v.Repo
	if res.Identical, err = CompareTrees(res.Source, res.Target); err != nil {
		return fmt.Errorf("restored copy differs from the source: %w", err)
	}
	step(QuickstartRestored)
	return nil
}

// openQuickstart opens the demo's home and its vault as a command would
// (one vault per command, host witnesses over the home's TLS).
func openQuickstart(ctx context.Context, dir string, keys bool, o Options) (*Vault, error) {
	h, err := home.Open(dir)
	if err != nil {
		return nil, err
	}
	o.WitnessTransport = WitnessTransport(h)
	v := New(h, o)
	if _, err := v.OpenRepo(ctx, keys); err != nil {
		return nil, err
	}
	return v, nil
}

// CompareTrees checks that b is an exact copy of a: the same entries,
// types, contents, permissions, modification times and symlink targets.
// It returns the number of regular files compared.
func CompareTrees(a, b string) (int, error) {
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
