package vault

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/failover"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/watch"
)

// The integrity job (framework requirement 10): verification, and the
// home's signed state and log root compared with each site and a third
// location.

// IntegrityProblem is one mismatch or damage the integrity check found.
type IntegrityProblem struct {
	Site   string `json:"site"`
	Kind   string `json:"kind"` // AlertIntegrity or AlertDamage
	Detail string `json:"detail"`
}

// IntegrityReport is one integrity check.
type IntegrityReport struct {
	ReadData  bool                   `json:"read_data"`
	Damage    int                    `json:"damage"`
	HomeState uint64                 `json:"home_state"`
	SiteState map[string]uint64      `json:"site_state"`
	LogSize   uint64                 `json:"log_size"`
	Witnesses []failover.WitnessHead `json:"-"`
	Third     []string               `json:"third_locations"` // what the home's view was compared with besides the sites
	Problems  []IntegrityProblem     `json:"problems"`
}

// CheckIntegrity verifies every site (metadata, or every pack with
// readData), then compares the home's signed vault state (its snapshot
// list) with the newest one each site shows, and the home's log root with
// what the log's outside witnesses say they cosigned (GET /latest). A
// site showing another state, or a witness showing another log, is a
// problem naming it. The comparison reads the sites' records as they are
// (without the home's catch-up), so a site rolled back between two
// checks is caught even if the next command would put it back.
func (v *Vault) CheckIntegrity(ctx context.Context, readData bool) (*IntegrityReport, error) {
	out := &IntegrityReport{ReadData: readData, SiteState: map[string]uint64{}}
	signKey, err := v.stateKey()
	if err != nil {
		return nil, err
	}
	type shown struct {
		seq uint64
		raw []byte
		st  *repo.StateBody
		err error
	}
	states := map[string]shown{}
	meta, err := v.MetaSite(ctx)
	if err != nil {
		return nil, err
	}
	defer meta.Backend.Close()
	var homeState shown
	homeState.seq, homeState.raw, homeState.st, homeState.err = newestState(ctx, meta.Backend, v.Repo.Home(), signKey)
	for _, s := range v.Repo.Sites() {
		if s.Backend == nil {
			states[s.Name] = shown{err: fmt.Errorf("unreachable: %v", s.Err())}
			continue
		}
		seq, raw, st, err := newestState(ctx, s.Backend, v.Repo.Home(), signKey)
		states[s.Name] = shown{seq, raw, st, err}
	}
	if homeState.err != nil || homeState.st == nil {
		return nil, hint.Wrap(fmt.Errorf("integrity: the home has no signed vault state of the current epoch in %s (%v)", v.Home.MetaDir(), homeState.err),
			"run 'embassy verify'; if the home's mirror was lost, 'embassy recover' rebuilds it from the sites")
	}
	out.HomeState = homeState.seq
	agree := 0
	for _, name := range sortedKeys(states) {
		if x := states[name]; x.err == nil && x.seq == homeState.seq && bytes.Equal(x.raw, homeState.raw) {
			agree++
		}
	}
	for _, name := range sortedKeys(states) {
		x := states[name]
		out.SiteState[name] = x.seq
		others := fmt.Sprintf("%d of the %d other sites agree with the home", agree, len(states)-1)
		switch {
		case x.err != nil:
			out.Problems = append(out.Problems, IntegrityProblem{Site: name, Kind: AlertIntegrity, Detail: "its signed state could not be read: " + x.err.Error()})
		case x.st == nil:
			out.Problems = append(out.Problems, IntegrityProblem{Site: name, Kind: AlertIntegrity,
				Detail: fmt.Sprintf("shows no signed vault state; the home's is %d (%s)", homeState.seq, others)})
		case x.seq < homeState.seq:
			out.Problems = append(out.Problems, IntegrityProblem{Site: name, Kind: AlertIntegrity,
				Detail: fmt.Sprintf("shows signed state %d, older than the home's %d: rolled back or behind; %s (%s)", x.seq, homeState.seq, snapshotDiff(homeState.st, x.st), others)})
		case x.seq > homeState.seq:
			out.Problems = append(out.Problems, IntegrityProblem{Site: name, Kind: AlertIntegrity,
				Detail: fmt.Sprintf("shows signed state %d, newer than the home's own %d: the home's mirror is behind or was rolled back (%s)", x.seq, homeState.seq, others)})
		case !bytes.Equal(x.raw, homeState.raw):
			out.Problems = append(out.Problems, IntegrityProblem{Site: name, Kind: AlertIntegrity,
				Detail: fmt.Sprintf("shows another signed state with the same number %d (a fork); %s", x.seq, snapshotDiff(homeState.st, x.st))})
		}
	}
	if len(states) > 1 {
		out.Third = append(out.Third, "the other sites' signed states")
	}
	// Verification on a vault opened afresh: a long-running process's
	// view would miss what other commands committed since it started.
	// (Opening catches up a site that missed the newest state: the
	// comparison above has already seen it as the site showed it.)
	fresh := New(v.Home, Options{Logger: v.log, Clock: v.clock, Warn: v.warn, Note: v.note, Actor: v.actor, OpenSite: v.open, WitnessTransport: v.wtr})
	if _, err := fresh.OpenRepo(ctx, true); err != nil {
		return nil, err
	}
	vr, err := fresh.Verify(ctx, repo.VerifyOptions{ReadData: readData})
	fresh.Close()
	if err != nil {
		return nil, err
	}
	out.Damage = len(vr.Damage)
	for _, d := range vr.Damage {
		out.Problems = append(out.Problems, IntegrityProblem{Site: d.Site, Kind: AlertDamage, Detail: fmt.Sprintf("%s: %s", d.Object, d.Problem)})
	}
	// The log's root against its outside witnesses.
	rc := v.Recorder()
	rd, err := rc.Reader()
	if err != nil {
		return nil, err
	}
	cp, _, err := rd.Checkpoint(ctx)
	if err != nil && !errors.Is(err, tlog.ErrEmpty) {
		return nil, fmt.Errorf("integrity: the home's log checkpoint: %w", err)
	}
	if cp != nil {
		out.LogSize = cp.Size
		w := &failover.Witnessed{Origin: cp.Origin, Size: cp.Size, Hash: cp.Hash, Policy: rc.Policy}
		hc := &http.Client{Timeout: 15 * time.Second, Transport: v.wtr}
		heads := w.AskWitnesses(ctx, hc)
		out.Witnesses = heads
		for _, h := range heads {
			out.Third = append(out.Third, "witness "+h.Name)
		}
		for _, h := range w.Ahead(heads) {
			out.Problems = append(out.Problems, IntegrityProblem{Site: "witness:" + h.Name, Kind: AlertIntegrity,
				Detail: fmt.Sprintf("witness %s cosigned log size %d (root %x) but the home's log shows size %d (root %x): the home's log was rolled back or forked", h.Name, h.Size, h.Hash, cp.Size, cp.Hash)})
		}
		for _, h := range failover.Unreachable(heads) {
			v.Warnf("integrity: witness %s could not be asked: %v", h.Name, h.Err)
		}
	}
	return out, nil
}

// stateKey checks state records against the current epoch's signing key
// (records of another epoch are history, not authority, as in repo).
func (v *Vault) stateKey() (func(uint32) (ed25519.PublicKey, error), error) {
	root := v.Repo.Root()
	if root == nil {
		return nil, errors.New("the root key is not loaded")
	}
	pub := root.Signer().Public().(ed25519.PublicKey)
	epoch := v.Repo.CurrentEpoch().Epoch
	return func(e uint32) (ed25519.PublicKey, error) {
		if e != epoch {
			return nil, fmt.Errorf("state of epoch %d, not the current %d", e, epoch)
		}
		return pub, nil
	}, nil
}

// homeState is the newest signed vault state in the home's mirror, read
// now (not the state this process opened the vault with).
func (v *Vault) homeState(ctx context.Context) (*repo.StateBody, error) {
	signKey, err := v.stateKey()
	if err != nil {
		return nil, err
	}
	meta, err := v.MetaSite(ctx)
	if err != nil {
		return nil, err
	}
	defer meta.Backend.Close()
	_, _, st, err := newestState(ctx, meta.Backend, v.Repo.Home(), signKey)
	if err == nil && st == nil {
		err = fmt.Errorf("no signed vault state of the current epoch in %s", v.Home.MetaDir())
	}
	return st, err
}

// snapshotDiff names the live snapshots one state lists and the other
// does not.
func snapshotDiff(home, site *repo.StateBody) string {
	var missing, extra int
	for _, d := range home.Datasets {
		sd := site.Dataset(d.ID)
		for _, id := range d.Snapshots {
			if sd == nil || !sd.Has(id) {
				missing++
			}
		}
	}
	for _, d := range site.Datasets {
		hd := home.Dataset(d.ID)
		for _, id := range d.Snapshots {
			if hd == nil || !hd.Has(id) {
				extra++
			}
		}
	}
	return fmt.Sprintf("its snapshot list lacks %d of the home's snapshots and has %d the home's does not", missing, extra)
}

// newestState reads the newest state record at b that verifies.
func newestState(ctx context.Context, b site.Backend, home string, signKey func(uint32) (ed25519.PublicKey, error)) (uint64, []byte, *repo.StateBody, error) {
	var seqs []uint64
	err := b.List(ctx, site.KindConfig, func(fi site.Info) error {
		if n, ok := strings.CutPrefix(fi.Handle.Name, "state-"); ok {
			if seq, err := strconv.ParseUint(n, 10, 64); err == nil && len(n) == 12 {
				seqs = append(seqs, seq)
			}
		}
		return nil
	})
	if err != nil {
		return 0, nil, nil, err
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] > seqs[j] })
	for i, seq := range seqs {
		if i == 16 {
			break
		}
		var raw []byte
		gerr := b.Get(ctx, site.Handle{Kind: site.KindConfig, Name: fmt.Sprintf("state-%012d", seq)}, 0, 0, func(r io.Reader) error {
			var rerr error
			raw, rerr = io.ReadAll(io.LimitReader(r, 16<<20))
			return rerr
		})
		if gerr != nil {
			continue
		}
		st, derr := repo.DecodeState(raw, home, signKey)
		if derr != nil || st.Seq != seq {
			continue
		}
		return seq, raw, st, nil
	}
	return 0, nil, nil, nil
}

func (v *Vault) integrityJob(ctx context.Context, slot time.Time, readEvery int, st *JobState) (*JobReport, error) {
	n, _ := strconv.Atoi(st.Data["runs_since_read"])
	readData := readEvery > 0 && n+1 >= readEvery
	ir, err := v.CheckIntegrity(ctx, readData)
	if err != nil {
		return nil, err
	}
	if st.Data == nil {
		st.Data = map[string]string{}
	}
	if readData {
		st.Data["runs_since_read"] = "0"
	} else {
		st.Data["runs_since_read"] = strconv.Itoa(n + 1)
	}
	third := "none (add an outside witness with 'embassy witness add', or a second site)"
	if len(ir.Third) > 0 {
		third = strings.Join(ir.Third, ", ")
	}
	rep := &JobReport{OK: len(ir.Problems) == 0,
		Summary: fmt.Sprintf("verified (read data %t): %d damaged; home state %d compared with %d sites; log size %d; third locations: %s; %s",
			readData, ir.Damage, ir.HomeState, len(ir.SiteState), ir.LogSize, third, nouns(len(ir.Problems), "problem")),
		Details: map[string]string{"read_data": strconv.FormatBool(readData), "damage": strconv.Itoa(ir.Damage),
			"home_state": strconv.FormatUint(ir.HomeState, 10), "log_size": strconv.FormatUint(ir.LogSize, 10)}}
	var bad []string
	keep := map[string]bool{}
	for _, p := range ir.Problems {
		bad = append(bad, p.Site)
		key := p.Site + "|" + p.Kind + "|" + p.Detail
		keep[key] = true
		if st.Raise(key, slot) {
			rep.Alerts = append(rep.Alerts, watch.Alert{Time: slot, Kind: p.Kind, Site: watch.Clean(p.Site), Why: watch.Clean("site " + p.Site + " " + p.Detail), Unit: "check"})
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		rep.Details["sites"] = strings.Join(slices.Compact(bad), ",")
	}
	st.Clear(keep)
	return rep, nil
}
