package failover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/registry"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/restorer"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/location"
)

// Check is one finding of a rebuild: what was checked, and how it went.
type Check struct {
	Check   string `json:"check"`   // site, keys, snapshot, restore, rpo, service, probe, rto
	Subject string `json:"subject"` // site, dataset or probe name
	OK      bool   `json:"ok"`
	Detail  string `json:"detail,omitempty"`
	// Rules are the ids of the policy rules that denied a site (check
	// "policy"): a denied site is reported as denied, not as failed.
	Rules []string `json:"rules,omitempty"`
}

// Restored is a dataset brought back.
type Restored struct {
	Dataset     string        `json:"dataset"`
	Snapshot    string        `json:"snapshot"`
	Time        time.Time     `json:"snapshot_time"`
	RPOTarget   time.Duration `json:"-"`
	RPOAchieved time.Duration `json:"-"`
	TargetSec   float64       `json:"rpo_target_seconds"`
	AchievedSec float64       `json:"rpo_achieved_seconds"`
	Dir         string        `json:"dir"`
	Bytes       int64         `json:"bytes"`
}

// Env is a rebuilt environment: the recovered vault and the restored data.
type Env struct {
	Repo      *repo.Repo
	Recovered *repo.Recovered
	Restored  map[string]*Restored
	Checks    []Check
	Sites     []*repo.Site
	Witnessed *Witnessed // what the plan's log copy says, if it has one
}

func (e *Env) add(c Check) { e.Checks = append(e.Checks, c) }

// Failed reports whether any check failed.
func (e *Env) Failed() bool {
	for _, c := range e.Checks {
		if !c.OK {
			return true
		}
	}
	return false
}

// Close closes the sites.
func (e *Env) Close() {
	for _, s := range e.Sites {
		if s.Backend != nil {
			s.Backend.Close()
		}
	}
}

// Denial is a site the policy keeps out of a restore.
type Denial struct {
	Rules  []string
	Reason string
}

// Gate asks the policy whether dataset d (labelled class) of the recovered
// home may be restored from site s; nil allows it. The vault's policy gate
// provides it (the same decision 'embassy restore' asks for), recording
// denials.
type Gate func(ctx context.Context, home string, s *repo.Site, d *repo.Dataset, class string) *Denial

// Options tune a rebuild.
type Options struct {
	Scratch string // where datasets are restored (scratch/<dataset>)
	Log     *slog.Logger
	Now     func() time.Time
	// Gate, if set, is asked for every site before a dataset is restored
	// from it.
	Gate Gate
	// Open opens a plan site (nil: its URL with location.Open).
	Open func(ctx context.Context, ps PlanSite) (site.Backend, error)
	// WitnessHTTP reaches the log policy's witnesses (nil: a default
	// client).
	WitnessHTTP *http.Client
	// OnUnwrap, if set, is told of every dataset key record the recovered
	// root unwraps (repo.Options.OnUnwrap), for the key-use log.
	OnUnwrap func(ctx context.Context, us []repo.Unwrap)
}

// Rebuild recovers the root key from the first site that yields it with
// ids, opens the vault on every reachable site and restores the plan's
// datasets (their latest authentic snapshots) under o.Scratch. It returns
// an error only when nothing can go on (no site, no key); everything else
// is a failed Check in the Env.
func Rebuild(ctx context.Context, p *Plan, ids []repo.IdentitySource, o Options) (*Env, error) {
	if o.Now == nil {
		o.Now = time.Now //nolint:forbidigo // default clock; entry points pass theirs
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Open == nil {
		o.Open = func(ctx context.Context, ps PlanSite) (site.Backend, error) {
			return location.Open(ctx, ps.URL, site.Properties{Name: ps.Name, Jurisdiction: ps.Jurisdiction}, location.Options{})
		}
	}
	scratch, log, now := o.Scratch, o.Log, o.Now
	env := &Env{Restored: map[string]*Restored{}}
	for _, ps := range p.Sites {
		s := &repo.Site{Name: ps.Name, Jurisdiction: ps.Jurisdiction}
		b, err := o.Open(ctx, ps)
		if err == nil {
			_, err = b.Stat(ctx, site.Handle{Kind: site.KindConfig, Name: "repo"})
			if err != nil {
				b.Close()
			}
		}
		if err != nil {
			s.Fail(err)
			env.add(Check{Check: "site", Subject: ps.Name, Detail: "site down or empty: " + err.Error()})
		} else {
			s.Backend = b
			env.add(Check{Check: "site", Subject: ps.Name, OK: true})
		}
		env.Sites = append(env.Sites, s)
	}
	var keyErrs []error
	// Rebuild the key from the site showing the newest epoch of the pinned
	// home first: a site hiding the newest epoch cannot make the drill
	// rebuild a retired root.
	order := append([]*repo.Site(nil), env.Sites...)
	epochOf := map[*repo.Site]uint32{}
	skip := map[*repo.Site]bool{}
	for _, s := range order {
		if s.Backend == nil {
			continue
		}
		_, fp, e, err := repo.PresentedEpoch(ctx, s)
		if err != nil {
			continue
		}
		if p.Home != "" {
			if err := repo.CheckFingerprint(s.Name, fp, p.Home); err != nil {
				// A forged or foreign vault: named, and never used.
				env.add(Check{Check: "home", Subject: s.Name, Detail: err.Error()})
				keyErrs = append(keyErrs, err)
				skip[s] = true
				continue
			}
		}
		epochOf[s] = e
	}
	sort.SliceStable(order, func(i, j int) bool { return epochOf[order[i]] > epochOf[order[j]] })
	for _, s := range order {
		if s.Backend == nil || skip[s] {
			continue
		}
		rec, err := repo.RecoverExpect(ctx, s, ids, p.Home)
		if errors.Is(err, repo.ErrWrongHome) {
			// A forged or foreign vault: never used, try the next site.
			keyErrs = append(keyErrs, err)
			env.add(Check{Check: "home", Subject: s.Name, Detail: err.Error()})
			continue
		}
		if errors.Is(err, repo.ErrUnpinned) {
			return env, err
		}
		if err == nil {
			env.Recovered = rec
			env.add(Check{Check: "keys", Subject: s.Name, OK: true,
				Detail: fmt.Sprintf("root epoch %d rebuilt from %d of %d needed custodians", rec.Root.Epoch, len(rec.Used), rec.Threshold)})
			break
		}
		keyErrs = append(keyErrs, err)
		env.add(Check{Check: "keys", Subject: s.Name, Detail: err.Error()})
		if hint.CodeOf(err) == hint.CodeKey || hint.CodeOf(err) == hint.CodeUsage {
			if !strings.Contains(err.Error(), "holds no custodian shares") {
				break // missing or wrong shares: another site holds the same ones
			}
		}
	}
	if env.Recovered == nil {
		err := errors.Join(keyErrs...)
		if err == nil {
			err = errors.New("no site of the plan is reachable")
		}
		code := hint.CodeKey
		if errors.Is(err, repo.ErrWrongHome) {
			code = hint.CodeDamaged // only forged or foreign vaults were found
		}
		return env, hint.WithCode(fmt.Errorf("rebuild the root key: %w", err), code)
	}
	r, err := repo.Open(ctx, repo.Options{Home: env.Recovered.Home, Sites: env.Sites, Logger: log, Now: o.Now, OnUnwrap: o.OnUnwrap, OnAlert: func(a repo.Alert) {
		env.add(Check{Check: "site-integrity", Subject: a.Site, Detail: string(a.Attack) + ": " + a.Detail})
	}})
	if err != nil {
		return env, err
	}
	if p.Log != nil {
		// The heads the log's witnesses cosigned: a site presenting less
		// is skipped with a failed "freshness" check.
		w, err := ReadWitnessed(ctx, p.Log.Dir, p.Log.Policy, env.Recovered.Home)
		if err != nil {
			env.add(Check{Check: "freshness", Subject: "log", Detail: err.Error()})
			return env, hint.WithCode(hint.Wrap(err, "the plan's log: must name a copy of the home's log folder and the log policy"), hint.CodeUsage)
		}
		env.Witnessed = w
		if err := askWitnesses(ctx, env, w, o.WitnessHTTP); err != nil {
			return env, err
		}
		if r, err = freshSites(ctx, env, w, log, o.OnUnwrap); err != nil {
			return env, err
		}
	}
	if st := r.State(); st != nil {
		env.add(Check{Check: "state", Subject: "vault", OK: true, Detail: fmt.Sprintf("freshest signed vault state %d across %d sites", st.Seq, len(env.Sites))})
	}
	if err := r.SetRoot(env.Recovered.Root); err != nil {
		return env, err
	}
	env.Repo = r
	for _, pd := range p.Datasets {
		rs, err := restoreLatest(ctx, env, r, pd, filepath.Join(scratch, pd.Name), now, o.Gate)
		if err != nil {
			continue
		}
		env.Restored[pd.Name] = rs
	}
	for name, err := range r.SiteErrors() {
		env.add(Check{Check: "site", Subject: name, Detail: "failed during the rebuild: " + err.Error()})
	}
	return env, nil
}

func restoreLatest(ctx context.Context, env *Env, r *repo.Repo, pd PlanDataset, dir string, now func() time.Time, gate Gate) (*Restored, error) {
	fail := func(check string, err error) (*Restored, error) {
		env.add(Check{Check: check, Subject: pd.Name, Detail: err.Error()})
		return nil, err
	}
	dk, err := r.Dataset(ctx, pd.Name)
	if err != nil {
		return fail("snapshot", err)
	}
	d, err := r.OpenDataset(ctx, dk)
	if err != nil {
		return fail("snapshot", err)
	}
	snaps, bad, err := d.Snapshots(ctx)
	if err != nil {
		return fail("snapshot", err)
	}
	for id, err := range bad {
		env.add(Check{Check: "snapshot", Subject: pd.Name, Detail: fmt.Sprintf("corrupted snapshot %s: %v", id.Short(), err)})
	}
	if len(snaps) == 0 {
		return fail("snapshot", fmt.Errorf("no authentic snapshot of %s at any site", pd.Name))
	}
	if gate != nil {
		undo, err := gateSites(ctx, env, r, d, pd.Name, snaps, gate)
		defer undo()
		if err != nil {
			return nil, err
		}
	}
	// Newest first: a snapshot that fails to restore (damaged at every site)
	// falls back to the one before, and the check records it.
	for i := len(snaps) - 1; i >= 0; i-- {
		s := snaps[i]
		os.RemoveAll(dir)
		// Only the index set the signed manifest binds (repo.Dataset.Bind).
		if _, err := d.Bind(ctx, s); err != nil {
			env.add(Check{Check: "restore", Subject: pd.Name, Detail: fmt.Sprintf("snapshot %s refused: %v", s.ID.Short(), err)})
			continue
		}
		st, err := restorer.Restore(ctx, d, s, dir, restorer.Options{})
		if err != nil {
			if ctx.Err() != nil {
				return fail("restore", err)
			}
			env.add(Check{Check: "restore", Subject: pd.Name, Detail: fmt.Sprintf("snapshot %s does not restore: %v", s.ID.Short(), err)})
			continue
		}
		env.add(Check{Check: "restore", Subject: pd.Name, OK: true, Detail: fmt.Sprintf("snapshot %s: %d files, %d bytes", s.ID.Short(), st.Files, st.Bytes)})
		ach := now().Sub(s.Time)
		rs := &Restored{Dataset: pd.Name, Snapshot: s.ID.String(), Time: s.Time, RPOTarget: pd.RPO, RPOAchieved: ach,
			TargetSec: pd.RPO.Seconds(), AchievedSec: ach.Seconds(), Dir: dir, Bytes: st.Bytes}
		c := Check{Check: "rpo", Subject: pd.Name, OK: ach <= pd.RPO,
			Detail: fmt.Sprintf("achieved %s, target %s", ach.Round(time.Second), pd.RPO)}
		if !c.OK {
			c.Detail = "dataset past its RPO: " + c.Detail
		}
		env.add(c)
		return rs, nil
	}
	return nil, errors.New("no snapshot restores")
}

// gateSites asks the gate for every open site before the dataset is
// restored: denied sites are kept out of this dataset's restore (undo lets
// them in again) and reported as denied; none allowed refuses the restore
// with the rules that denied it.
func gateSites(ctx context.Context, env *Env, r *repo.Repo, d *repo.Dataset, name string, snaps []*repo.Snapshot, gate Gate) (func(), error) {
	class := snaps[len(snaps)-1].Class
	var undos []func()
	undo := func() {
		for _, u := range undos {
			u()
		}
	}
	allowed, denied := 0, 0
	var first *Denial
	for _, s := range r.Sites() {
		if s.Backend == nil || s.Err() != nil {
			continue
		}
		dn := gate(ctx, env.Recovered.Home, s, d, class)
		if dn == nil {
			allowed++
			continue
		}
		denied++
		if first == nil {
			first = dn
		}
		env.add(Check{Check: "policy", Subject: name + " at " + s.Name, OK: false, Rules: dn.Rules,
			Detail: fmt.Sprintf("policy denies restore of %s at site %s (%s): %s", name, s.Name, strings.Join(dn.Rules, ","), dn.Reason)})
		undos = append(undos, s.Exclude(fmt.Errorf("policy denies restore of %s at site %s (%s)", name, s.Name, strings.Join(dn.Rules, ","))))
	}
	if allowed == 0 && denied > 0 {
		return undo, fmt.Errorf("policy denies restore of %s at every site (%s): %s", name, strings.Join(first.Rules, ","), first.Reason)
	}
	return undo, nil
}

// freshSites reopens the vault over the sites whose signed state shows at
// least what the witnesses cosigned; the others are named and skipped.
func freshSites(ctx context.Context, env *Env, w *Witnessed, log *slog.Logger, onUnwrap func(context.Context, []repo.Unwrap)) (*repo.Repo, error) {
	home := env.Recovered.Home
	var fresh []*repo.Site
	for _, s := range env.Sites {
		if s.Backend == nil || s.Err() != nil {
			continue
		}
		one, err := repo.Open(ctx, repo.Options{Home: home, Sites: []*repo.Site{s}, Logger: log})
		if err != nil {
			env.add(Check{Check: "freshness", Subject: s.Name, Detail: err.Error()})
			s.Fail(err)
			continue
		}
		st := one.State()
		var behind []string
		if st == nil {
			behind = []string{"(no signed state)"}
		} else {
			behind = w.Behind(st)
			for i, id := range behind {
				if d := st.Dataset(id); d != nil {
					behind[i] = d.Name + " (" + id + ")"
				}
			}
		}
		if len(behind) > 0 {
			err := fmt.Errorf("site %s presents less than the log's witnesses cosigned (checkpoint of size %d): it misses the newest snapshots of datasets %s; stale or hiding manifests, not used",
				s.Name, w.Size, strings.Join(behind, ", "))
			env.add(Check{Check: "freshness", Subject: s.Name, Detail: err.Error()})
			s.Fail(err)
			continue
		}
		env.add(Check{Check: "freshness", Subject: s.Name, OK: true, Detail: fmt.Sprintf("shows every head of the witnessed log (size %d)", w.Size)})
		fresh = append(fresh, s)
	}
	if len(fresh) == 0 {
		return nil, hint.WithCode(hint.Wrap(errors.New("no site presents the vault state the log's witnesses cosigned: every site is stale or hiding manifests"),
			"bring a site that holds the newest snapshots ('embassy site sync' at home), or check the plan's log copy"), hint.CodeDamaged)
	}
	return repo.Open(ctx, repo.Options{Home: home, Sites: fresh, Logger: log, OnUnwrap: onUnwrap, OnAlert: func(a repo.Alert) {
		env.add(Check{Check: "site-integrity", Subject: a.Site, Detail: string(a.Attack) + ": " + a.Detail})
	}})
}

// Service opens the lookup service over the restored files.
func (env *Env) Service(p *Plan) (*registry.Service, error) {
	svc := &registry.Service{}
	open := func(reg string, ref *FileRef, keyOf func(string) (uint64, bool)) (*registry.Table, error) {
		if ref == nil {
			return nil, nil
		}
		rs := env.Restored[ref.Dataset]
		if rs == nil {
			err := fmt.Errorf("%s register: dataset %s was not restored", reg, ref.Dataset)
			env.add(Check{Check: "service", Subject: reg, Detail: err.Error()})
			return nil, err
		}
		t, err := registry.Open(filepath.Join(rs.Dir, filepath.FromSlash(ref.Path)), keyOf)
		if err != nil {
			env.add(Check{Check: "service", Subject: reg, Detail: err.Error()})
			return nil, err
		}
		env.add(Check{Check: "service", Subject: reg, OK: true, Detail: fmt.Sprintf("%d records indexed", t.Len())})
		return t, nil
	}
	var err1, err2 error
	svc.Population, err1 = open(registry.KindPopulation, p.Service.Population, registry.PersonalKey)
	svc.Land, err2 = open(registry.KindLand, p.Service.Land, registry.ParcelKey)
	if err := errors.Join(err1, err2); err != nil {
		svc.Close()
		return nil, err
	}
	return svc, nil
}

// askWitnesses asks the log policy's witnesses for the newest checkpoint
// they cosigned: one they cannot give is a failed "witness" check (unknown
// is not a pass); one beyond the plan's log copy refuses the rebuild, since
// the copy then cannot show any site fresh.
func askWitnesses(ctx context.Context, env *Env, w *Witnessed, hc *http.Client) error {
	heads := w.AskWitnesses(ctx, hc)
	for _, h := range heads {
		switch {
		case h.Err != nil:
			env.add(Check{Check: "witness", Subject: h.Name, Detail: fmt.Sprintf("not asked for its latest checkpoint (%s): %v; freshness against it is unknown", h.URL, h.Err)})
		case h.None:
			env.add(Check{Check: "witness", Subject: h.Name, OK: true, Detail: "has cosigned no checkpoint of the log"})
		default:
			env.add(Check{Check: "witness", Subject: h.Name, OK: true, Detail: fmt.Sprintf("latest cosigned checkpoint of size %d", h.Size)})
		}
	}
	ahead := w.Ahead(heads)
	if len(ahead) == 0 {
		return nil
	}
	var names []string
	for _, s := range env.Sites {
		names = append(names, s.Name)
	}
	err := w.AheadError("sites "+strings.Join(names, ", "), ahead)
	// The plan's log copy is what is stale (the detail names each witness
	// ahead): one check about the log, not one per witness under its name,
	// which read as a site's ("freshness lu").
	env.add(Check{Check: "freshness", Subject: "log", Detail: err.Error()})
	return hint.WithCode(hint.Wrap(err, "refresh the plan's copy of the home's log (log.dir) from the home or a custodian's copy"), hint.CodeDamaged)
}
