package cli

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/proof"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/remote"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/vault"
	"github.com/digital-embassy/embassy/internal/watch/source"
)

// proofChunks is how many random 1 KiB chunks each sampled object reveals
// besides its last one.
const proofChunks = 2

// proofReport is the outcome of 'embassy verify --proof' at one site.
type proofReport struct {
	Site     string        `json:"site"`
	Expected int           `json:"expected_objects"`
	Objects  int           `json:"objects_challenged"`
	Proved   int           `json:"objects_proved"`
	Chunks   int           `json:"chunks_checked"`
	Damage   []repo.Damage `json:"damage"`
	Latency  float64       `json:"latency_ms"` // the daemon's answer to the challenge
}

// expectation is what the home knows a site must hold, from its own
// authenticated knowledge: the indexes (packs and their sizes), the
// snapshots and indexes that authenticate, and the home's mirror of the
// config and key objects.
type expectation struct {
	byKind map[site.Kind][]site.Handle
	sizes  map[site.Handle]int64
	bytes  map[site.Handle][]byte
}

func (e *env) expectation(h *home.Home, r *repo.Repo) (*expectation, error) {
	x := &expectation{byKind: map[site.Kind][]site.Handle{}, sizes: map[site.Handle]int64{}, bytes: map[site.Handle][]byte{}}
	meta, err := e.metaSite(h)
	if err != nil {
		return nil, err
	}
	defer meta.Backend.Close()
	for _, s := range []*repo.Site{meta} {
		for _, k := range []site.Kind{site.KindConfig, site.KindKey} {
			var hs []site.Handle
			if err := s.Backend.List(e.ctx, k, func(fi site.Info) error { hs = append(hs, fi.Handle); return nil }); err != nil {
				return nil, fmt.Errorf("home mirror: %w", err)
			}
			for _, h := range hs {
				b, err := site.ReadAll(e.ctx, s.Backend, h)
				if err != nil {
					return nil, fmt.Errorf("home mirror: %w", err)
				}
				x.bytes[h] = b
				x.byKind[k] = append(x.byKind[k], h)
			}
		}
	}
	all, err := r.Datasets(e.ctx)
	if err != nil {
		return nil, err
	}
	for _, k := range all {
		d, err := r.OpenDataset(e.ctx, k)
		if err != nil {
			return nil, err
		}
		for id, size := range d.Idx.Packs() {
			h := d.PackHandle(id)
			x.sizes[h] = size
			x.byKind[site.KindPack] = append(x.byKind[site.KindPack], h)
		}
		for id := range d.Idx.Files() {
			x.byKind[site.KindIndex] = append(x.byKind[site.KindIndex], d.IndexHandle(id))
		}
		snaps, _, err := d.Snapshots(e.ctx)
		if err != nil {
			return nil, err
		}
		for _, s := range snaps {
			x.byKind[site.KindSnapshot] = append(x.byKind[site.KindSnapshot], d.SnapshotHandle(s.ID))
		}
	}
	return x, nil
}

// proofKinds are the kinds sampled and whose listings are compared.
var proofKinds = []site.Kind{site.KindConfig, site.KindKey, site.KindPack, site.KindIndex, site.KindSnapshot}

// verifyProof challenges daemon sites to prove they hold a sample of every
// kind of object, without downloading them.
func (e *env) verifyProof(h *home.Home, r *repo.Repo, names []string, sample int) error {
	if len(names) == 0 {
		return usagef("--proof needs --site NAME (an embassy:// daemon site)")
	}
	if sample < 1 {
		return usagef("--sample %d: want at least 1", sample)
	}
	var daemons []*remote.Backend
	for _, n := range names {
		i := slices.IndexFunc(r.Sites(), func(s *repo.Site) bool { return s.Name == n && !s.MetaOnly })
		if i < 0 {
			return hint.WithCode(hint.Wrap(fmt.Errorf("no site named %q", n), "see 'embassy site list'"), hint.CodeUsage)
		}
		s := r.Sites()[i]
		if s.Backend == nil {
			return hint.WithCode(fmt.Errorf("site %s is unreachable: %w", n, s.Err()), hint.CodeDamaged)
		}
		rb := daemonOf(s.Backend)
		if rb == nil {
			return hint.WithCode(hint.Wrap(fmt.Errorf("site %s is not an embassy daemon: proofs need one", n),
				"use 'embassy verify --read-data --site "+n+"' to download and check its objects instead"), hint.CodeUsage)
		}
		daemons = append(daemons, rb)
	}
	x, err := e.expectation(h, r)
	if err != nil {
		return err
	}
	exp := proof.Expect{
		Bytes: func(h site.Handle) ([]byte, bool) { b, ok := x.bytes[h]; return b, ok },
		Size:  func(h site.Handle) (int64, bool) { n, ok := x.sizes[h]; return n, ok },
		Names: map[site.Kind][]string{},
	}
	expected := 0
	for _, k := range proofKinds {
		ns := []string{}
		for _, h := range x.byKind[k] {
			ns = append(ns, h.Name)
		}
		exp.Names[k] = ns
		expected += len(ns)
	}
	var reps []*proofReport
	damaged := 0
	for i, rb := range daemons {
		var objs []site.Handle
		for _, k := range proofKinds {
			objs = append(objs, proof.NewChallenge(x.byKind[k], sample, 0).Objects...)
		}
		c := proof.NewChallenge(objs, 0, proofChunks, proofKinds...)
		rep := &proofReport{Site: names[i], Expected: expected, Objects: len(objs), Damage: []repo.Damage{}}
		start := time.Now()
		resp, err := rb.Prove(e.ctx, c)
		latency := time.Since(start)
		rep.Latency = float64(latency.Microseconds()) / 1000
		e.observeProof(names[i], latency)
		if err != nil {
			if e.ctx.Err() != nil {
				return e.ctx.Err()
			}
			rep.Damage = append(rep.Damage, repo.Damage{Site: names[i], Object: "-", Problem: "the daemon did not answer the challenge: " + err.Error()})
		} else {
			pr := proof.Verify(c, resp, exp)
			rep.Proved, rep.Chunks = pr.Proved, pr.Chunks
			for _, p := range pr.Problems {
				obj := "-"
				if p.Handle.Kind != 0 {
					obj = p.Handle.String()
				}
				rep.Damage = append(rep.Damage, repo.Damage{Site: names[i], Object: obj, Problem: p.What + ": " + p.Detail})
			}
		}
		damaged += len(rep.Damage)
		reps = append(reps, rep)
		e.audit(h, tlog.Entry{Kind: tlog.KindVerify, Site: names[i], Details: map[string]string{"proof": "true", "objects": fmt.Sprint(rep.Objects), "proved": fmt.Sprint(rep.Proved), "damage": fmt.Sprint(len(rep.Damage)),
			source.DetailLatency: strconv.FormatFloat(rep.Latency, 'f', 3, 64)}})
	}
	if e.json {
		if err := e.emitJSON(reps); err != nil {
			return err
		}
	} else {
		for _, rep := range reps {
			e.printf("proof of storage at %s: %d of %d sampled objects proved (%d chunks checked; the home expects %d objects)\n", rep.Site, rep.Proved, rep.Objects, rep.Chunks, rep.Expected)
			for _, d := range rep.Damage {
				fmt.Fprintf(e.stdout, "DAMAGED site=%s object=%s: %s\n", d.Site, d.Object, d.Problem)
			}
		}
	}
	if damaged > 0 {
		return hint.WithCode(hint.Wrap(fmt.Errorf("%d problem(s) found", damaged), proofRepairHint(reps)), hint.CodeDamaged)
	}
	e.printf("no damage found\n")
	return nil
}

func daemonOf(b site.Backend) *remote.Backend { return vault.DaemonOf(b) }

// proofRepairHint names the repair that fixes what the proofs found: a
// proof reads content, so plain repair (presence and size) is not enough.
func proofRepairHint(reps []*proofReport) string {
	var args []string
	for _, rep := range reps {
		if len(rep.Damage) > 0 {
			args = append(args, "--site "+rep.Site)
		}
	}
	return "the site does not hold what it was given; run 'embassy repair " + strings.Join(args, " ") +
		" --read-data' to re-copy from another site, and ask the host (see 'embassy disclosures')"
}
