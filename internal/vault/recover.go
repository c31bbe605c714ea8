package vault

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/digital-embassy/embassy/internal/failover"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/location"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// Passphrase returns the passphrase of a passphrase-encrypted identity
// file (label names the file, for a prompt). Entry points provide it: a
// terminal prompt, or a passphrase file.
type Passphrase func(label string) ([]byte, error)

// maxIdentityFile bounds an identity file read into memory.
const maxIdentityFile = 1 << 20

// LoadIdentityList reads custodian identity files in order, labelled by
// path; a file given twice is kept twice, so that recovery refuses it.
func LoadIdentityList(files []string, pass Passphrase) ([]repo.IdentitySource, error) {
	var out []repo.IdentitySource
	for _, f := range files {
		ids, err := ReadIdentityFile(f, pass)
		if err != nil {
			return nil, err
		}
		out = append(out, repo.IdentitySource{Label: f, Identities: ids})
	}
	return out, nil
}

// LoadIdentities reads custodian identity files, each once, labelled by
// base name. A file that is itself age-encrypted with a passphrase (what
// 'age -p' or 'age-keygen | age -p' writes; armored or binary) is
// decrypted with pass first, as 'age -d' would.
func LoadIdentities(files []string, pass Passphrase) ([]repo.IdentitySource, error) {
	var out []repo.IdentitySource
	seen := map[string]bool{}
	for _, f := range files {
		if seen[f] {
			continue
		}
		seen[f] = true
		ids, err := ReadIdentityFile(f, pass)
		if err != nil {
			return nil, err
		}
		out = append(out, repo.IdentitySource{Label: filepath.Base(f), Identities: ids})
	}
	return out, nil
}

// ReadIdentityFile reads one identity file (see LoadIdentities).
func ReadIdentityFile(path string, pass Passphrase) ([]age.Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, hint.WithCode(fmt.Errorf("identity: %w", err), hint.CodeUsage)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxIdentityFile+1))
	if err != nil {
		return nil, hint.WithCode(fmt.Errorf("identity %s: %w", path, err), hint.CodeUsage)
	}
	if len(b) > maxIdentityFile {
		return nil, hint.WithCode(fmt.Errorf("identity %s: larger than %d bytes, not an identity file", path, maxIdentityFile), hint.CodeUsage)
	}
	if encrypted(b) {
		b, err = decryptIdentity(path, b, pass)
		if err != nil {
			return nil, err
		}
	}
	ids, err := keys.ParseIdentities(b)
	if err != nil {
		return nil, hint.WithCode(fmt.Errorf("identity %s: %w", path, err), hint.CodeKey)
	}
	return ids, nil
}

const ageIntro = "age-encryption.org/v1\n"

func encrypted(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return bytes.HasPrefix(t, []byte(ageIntro)) || bytes.HasPrefix(t, []byte(armor.Header))
}

// decryptIdentity opens a passphrase-encrypted identity file with age's
// scrypt identity (the work factor age accepts; a file encrypted to a
// recipient instead of a passphrase is refused by age).
func decryptIdentity(path string, b []byte, pass Passphrase) ([]byte, error) {
	if pass == nil {
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("identity %s is passphrase-encrypted and no passphrase can be asked", path),
			"run on a terminal, or give the passphrase in a file with --passphrase-file FILE or EMBASSY_PASSPHRASE_FILE"), hint.CodeKey)
	}
	pw, err := pass(filepath.Base(path))
	if err != nil {
		return nil, hint.WithCode(fmt.Errorf("passphrase for %s: %w", path, err), hint.CodeKey)
	}
	pw = bytes.TrimRight(pw, "\r\n")
	sid, err := age.NewScryptIdentity(string(pw))
	if err != nil {
		return nil, hint.WithCode(fmt.Errorf("passphrase for %s: %w", path, err), hint.CodeKey)
	}
	var src io.Reader = bytes.NewReader(bytes.TrimLeft(b, " \t\r\n"))
	if bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte(armor.Header)) {
		src = armor.NewReader(src)
	}
	r, err := age.Decrypt(src, sid)
	if err != nil {
		var wrong *age.NoIdentityMatchError
		if errors.As(err, &wrong) || errors.Is(err, age.ErrIncorrectIdentity) {
			return nil, hint.WithCode(hint.Wrap(fmt.Errorf("identity %s: wrong passphrase, or the file is not passphrase-encrypted", path),
				"check the passphrase (the one given to 'age -p' when the identity was encrypted)"), hint.CodeKey)
		}
		return nil, hint.WithCode(fmt.Errorf("identity %s: %w", path, err), hint.CodeKey)
	}
	out, err := io.ReadAll(io.LimitReader(bufio.NewReader(r), maxIdentityFile+1))
	if err != nil {
		return nil, hint.WithCode(fmt.Errorf("identity %s: %w", path, err), hint.CodeKey)
	}
	return out, nil
}

// RecoverRequest is a home to rebuild from one site and k custodians.
type RecoverRequest struct {
	Dir          string // the new home (must not exist)
	SiteURL      string
	SiteName     string // name of the site in the new home
	Jurisdiction string
	ExpectHome   string // the pinned home fingerprint ("" refuses, showing the presented one)
	Identities   []repo.IdentitySource
	// LogDir and LogPolicy, if set, are a copy of the home's log and its
	// trusted policy: the site must show every head the log's witnesses
	// cosigned (see failover.ReadWitnessed), or recovery is refused.
	LogDir, LogPolicy string
	// WitnessHTTP reaches the log policy's witnesses, which are asked for
	// the newest checkpoint they cosigned (nil: a default client).
	WitnessHTTP *http.Client
	// Compare are other sites of the home (URLs): the site recovered from
	// must show at least the freshest signed state any of them shows.
	Compare []string
	// Open opens the site (nil: location.Open of SiteURL).
	Open func(ctx context.Context, url string, p site.Properties) (site.Backend, error)
}

// RecoverResult is a rebuilt home.
type RecoverResult struct {
	Vault     *Vault // the new home's vault, open with keys; Close it
	Recovered *repo.Recovered
	Datasets  int
	Entry     tlog.Entry
}

// Recover rebuilds a home from one site and k custodian identities into
// req.Dir: the site's vault must present the pinned fingerprint, and (with
// a log copy) at least what the log's witnesses cosigned; then the home is
// created, the root saved, the home mirror filled from the site and the
// recovery recorded in the new home's log.
func Recover(ctx context.Context, req RecoverRequest, o Options) (*RecoverResult, error) {
	if home.Exists(req.Dir) {
		return nil, hint.Wrap(fmt.Errorf("a home already exists at %s", req.Dir), "recover into an empty --home")
	}
	if len(req.Identities) == 0 {
		return nil, hint.WithCode(errors.New("no custodian identities: give the identity files of at least k custodians"), hint.CodeUsage)
	}
	if req.SiteName == "" {
		req.SiteName = "recovered"
	}
	open := req.Open
	if open == nil {
		open = func(ctx context.Context, url string, p site.Properties) (site.Backend, error) {
			return location.Open(ctx, url, p, location.Options{})
		}
	}
	b, err := open(ctx, req.SiteURL, site.Properties{Name: req.SiteName, Jurisdiction: req.Jurisdiction})
	if err != nil {
		return nil, hint.Wrap(fmt.Errorf("site %s: %w", req.SiteURL, err), "check the URL and that the site is reachable")
	}
	src := &repo.Site{Name: req.SiteName, Jurisdiction: req.Jurisdiction, Backend: b}
	rec, err := repo.RecoverExpect(ctx, src, req.Identities, req.ExpectHome)
	if err == nil && req.LogDir != "" {
		err = checkFresh(ctx, src, rec.Home, req, o)
	}
	if err == nil && len(req.Compare) > 0 {
		err = compareSites(ctx, src, rec.Home, req.Compare, open, o)
	}
	_ = b.Close()
	if err != nil {
		return nil, err
	}
	cfg := home.Default()
	cfg.Home = rec.Home
	cfg.Sites = []home.SiteConfig{{Name: req.SiteName, URL: req.SiteURL, Jurisdiction: req.Jurisdiction}}
	h, err := home.Create(req.Dir, cfg)
	if err != nil {
		return nil, err
	}
	if err := h.SaveRoot(rec.Home, rec.Root); err != nil {
		return nil, err
	}
	v := New(h, o)
	if req.Open != nil && v.open == nil {
		v.open = func(ctx context.Context, sc home.SiteConfig, _ bool) (site.Backend, error) {
			return req.Open(ctx, sc.URL, site.Properties{Name: sc.Name, Jurisdiction: sc.Jurisdiction})
		}
	}
	r, err := v.OpenRepo(ctx, true)
	if err != nil {
		return nil, err
	}
	meta, err := v.MetaSite(ctx)
	if err != nil {
		v.Close()
		return nil, err
	}
	if _, err := r.Backfill(ctx, meta, nil); err != nil {
		v.Close()
		return nil, err
	}
	all, err := r.Datasets(ctx)
	if err != nil {
		v.Close()
		return nil, err
	}
	out := &RecoverResult{Vault: v, Recovered: rec, Datasets: len(all)}
	out.Entry = tlog.RecoverEntry(tlog.RecoverFacts{Site: req.SiteName, Custodians: len(rec.Used), Threshold: rec.Threshold,
		Epoch: rec.Root.Epoch, StateSeq: rec.StateSeq})
	v.Recorder().Fill(&out.Entry)
	v.Recorder().Audit(ctx, out.Entry)
	return out, nil
}

// checkFresh refuses a site whose signed state shows less than the log's
// witnesses cosigned: first the witnesses named in the policy are asked
// for the newest checkpoint they cosigned (a log copy older than that is
// refused: it cannot show the site fresh), then the site must show every
// snapshot the copy records.
func checkFresh(ctx context.Context, s *repo.Site, homeID string, req RecoverRequest, o Options) error {
	w, err := failover.ReadWitnessed(ctx, req.LogDir, req.LogPolicy, homeID)
	if err != nil {
		return hint.WithCode(hint.Wrap(err, "give a copy of the home's log folder (--log) and the log policy the custodians keep (--log-policy)"), hint.CodeUsage)
	}
	heads := w.AskWitnesses(ctx, req.WitnessHTTP)
	for _, h := range failover.Unreachable(heads) {
		warn(o, fmt.Sprintf("witness %s (%s) not asked for its latest checkpoint: %v; the site's freshness against it is unknown", h.Name, h.URL, h.Err))
	}
	if len(heads) == 0 { // as 'witness add' warns of a home-alone policy: a warning, exit unchanged
		noteOf(o, "the log policy names no witness outside the home: the site's freshness is checked against the log copy alone")
	}
	if ahead := w.Ahead(heads); len(ahead) > 0 {
		return hint.WithCode(hint.Wrap(w.AheadError("site "+s.Name, ahead),
			"recover with a fresher copy of the home's log (--log), or from another site of the home"), hint.CodeDamaged)
	}
	one, err := repo.Open(ctx, repo.Options{Home: homeID, Sites: []*repo.Site{s}, Logger: o.Logger})
	if err != nil {
		return err
	}
	st := one.State()
	if st == nil {
		return hint.WithCode(hint.Wrap(fmt.Errorf("site %s shows no signed vault state, but the log's witnesses cosigned %d entries: stale or hostile, not used", s.Name, w.Size),
			"recover from another site of the home"), hint.CodeDamaged)
	}
	if behind := w.Behind(st); len(behind) > 0 {
		return hint.WithCode(hint.Wrap(fmt.Errorf("site %s presents vault state %d, which misses the newest snapshots the log's witnesses cosigned (datasets %s): stale or hiding manifests, not used", s.Name, st.Seq, strings.Join(behind, ", ")),
			"recover from another site of the home, one that shows the newest snapshots"), hint.CodeDamaged)
	}
	return nil
}

// compareSites refuses src when another of the home's sites shows a
// fresher signed state: src is then stale or hiding manifests. Sites that
// cannot be opened, or present another home, are warned about and not
// compared.
func compareSites(ctx context.Context, src *repo.Site, homeID string, urls []string, open func(context.Context, string, site.Properties) (site.Backend, error), o Options) error {
	sites := []*repo.Site{src}
	for i, u := range urls {
		name := fmt.Sprintf("compare-%d", i+1)
		b, err := open(ctx, u, site.Properties{Name: name, Jurisdiction: "ZZ"})
		if err != nil {
			warn(o, fmt.Sprintf("site %s (%s) not compared: %v", name, u, err))
			continue
		}
		defer b.Close()
		sites = append(sites, &repo.Site{Name: name, Backend: b})
	}
	r, err := repo.Open(ctx, repo.Options{Home: homeID, Sites: sites, Logger: o.Logger, Now: o.Clock, OnAlert: func(a repo.Alert) {
		if a.Site != src.Name {
			warn(o, fmt.Sprintf("site %s: %s: %s", a.Site, a.Attack, a.Detail))
		}
	}})
	if err != nil {
		return err
	}
	if got, stale := r.StaleSites()[src.Name]; stale {
		best := uint64(0)
		if st := r.State(); st != nil {
			best = st.Seq
		}
		return hint.WithCode(hint.Wrap(fmt.Errorf("site %s presents vault state %d, another site of the home shows %d: stale or hiding manifests, not used", src.Name, got, best),
			"recover from the site that shows the freshest state"), hint.CodeDamaged)
	}
	return nil
}

// noteOf reports a warning that does not change the exit code (Options.Note).
func noteOf(o Options, msg string) {
	if o.Note != nil {
		o.Note(msg)
	} else if o.Logger != nil {
		o.Logger.Warn(msg)
	}
}

func warn(o Options, msg string) {
	if o.Warn != nil {
		o.Warn(msg)
	} else if o.Logger != nil {
		o.Logger.Warn(msg)
	}
}
