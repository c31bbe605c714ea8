package vault

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/proof"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/remote"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/watch/source"
)

// proofChunks is how many random 1 KiB chunks each sampled object reveals
// besides its last one.
const proofChunks = 2

// proofKinds are the kinds sampled and whose listings are compared.
var proofKinds = []site.Kind{site.KindConfig, site.KindKey, site.KindPack, site.KindIndex, site.KindSnapshot}

// ProofReport is the outcome of a proof of storage at one site.
type ProofReport struct {
	Site     string        `json:"site"`
	Expected int           `json:"expected_objects"`
	Objects  int           `json:"objects_challenged"`
	Proved   int           `json:"objects_proved"`
	Chunks   int           `json:"chunks_checked"`
	Damage   []repo.Damage `json:"damage"`
	Latency  float64       `json:"latency_ms"` // the daemon's answer to the challenge
}

// ProofRequest names the daemon sites to challenge.
type ProofRequest struct {
	Sites  []string // names of embassy:// daemon sites of the vault
	Sample int      // objects sampled per kind (at least 1)
	// Observe, if set, receives each site's challenge round trip.
	Observe func(site string, latency time.Duration)
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

func (v *Vault) expectation(ctx context.Context, r *repo.Repo) (*expectation, error) {
	x := &expectation{byKind: map[site.Kind][]site.Handle{}, sizes: map[site.Handle]int64{}, bytes: map[site.Handle][]byte{}}
	meta, err := v.MetaSite(ctx)
	if err != nil {
		return nil, err
	}
	defer meta.Backend.Close()
	for _, k := range []site.Kind{site.KindConfig, site.KindKey} {
		var hs []site.Handle
		if err := meta.Backend.List(ctx, k, func(fi site.Info) error { hs = append(hs, fi.Handle); return nil }); err != nil {
			return nil, fmt.Errorf("home mirror: %w", err)
		}
		for _, h := range hs {
			b, err := site.ReadAll(ctx, meta.Backend, h)
			if err != nil {
				return nil, fmt.Errorf("home mirror: %w", err)
			}
			x.bytes[h] = b
			x.byKind[k] = append(x.byKind[k], h)
		}
	}
	all, err := r.Datasets(ctx)
	if err != nil {
		return nil, err
	}
	for _, k := range all {
		d, err := r.OpenDataset(ctx, k)
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
		snaps, _, err := d.Snapshots(ctx)
		if err != nil {
			return nil, err
		}
		for _, s := range snaps {
			x.byKind[site.KindSnapshot] = append(x.byKind[site.KindSnapshot], d.SnapshotHandle(s.ID))
		}
	}
	return x, nil
}

// ProveStorage challenges daemon sites of the opened repository to prove
// they hold a sample of every kind of object, without downloading them,
// against what the home itself knows they must hold; each site's outcome
// is logged (a verify entry with its latency). A site that is not a
// daemon, or unknown, is a usage error; an unreachable one is damage.
func (v *Vault) ProveStorage(ctx context.Context, req ProofRequest) ([]*ProofReport, error) {
	r := v.Repo
	if r == nil {
		return nil, fmt.Errorf("prove storage: the vault is not open")
	}
	var daemons []*remote.Backend
	for _, n := range req.Sites {
		i := slices.IndexFunc(r.Sites(), func(s *repo.Site) bool { return s.Name == n && !s.MetaOnly })
		if i < 0 {
			return nil, hint.WithCode(hint.Wrap(fmt.Errorf("no site named %q", n), "see 'embassy site list'"), hint.CodeUsage)
		}
		s := r.Sites()[i]
		if s.Backend == nil {
			return nil, hint.WithCode(fmt.Errorf("site %s is unreachable: %w", n, s.Err()), hint.CodeDamaged)
		}
		rb := DaemonOf(s.Backend)
		if rb == nil {
			return nil, hint.WithCode(hint.Wrap(fmt.Errorf("site %s is not an embassy daemon: proofs need one", n),
				"use 'embassy verify --read-data --site "+n+"' to download and check its objects instead"), hint.CodeUsage)
		}
		daemons = append(daemons, rb)
	}
	x, err := v.expectation(ctx, r)
	if err != nil {
		return nil, err
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
	var reps []*ProofReport
	for i, rb := range daemons {
		name := req.Sites[i]
		var objs []site.Handle
		for _, k := range proofKinds {
			objs = append(objs, proof.NewChallenge(x.byKind[k], req.Sample, 0).Objects...)
		}
		c := proof.NewChallenge(objs, 0, proofChunks, proofKinds...)
		rep := &ProofReport{Site: name, Expected: expected, Objects: len(objs), Damage: []repo.Damage{}}
		start := time.Now() //nolint:forbidigo // a round trip is timed on the monotonic clock, never the vault's (pinnable) clock
		resp, err := rb.Prove(ctx, c)
		latency := time.Since(start)
		rep.Latency = float64(latency.Microseconds()) / 1000
		if req.Observe != nil {
			req.Observe(name, latency)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			rep.Damage = append(rep.Damage, repo.Damage{Site: name, Object: "-", Problem: "the daemon did not answer the challenge: " + err.Error()})
		} else {
			pr := proof.Verify(c, resp, exp)
			rep.Proved, rep.Chunks = pr.Proved, pr.Chunks
			for _, p := range pr.Problems {
				obj := "-"
				if p.Handle.Kind != 0 {
					obj = p.Handle.String()
				}
				rep.Damage = append(rep.Damage, repo.Damage{Site: name, Object: obj, Problem: p.What + ": " + p.Detail})
			}
		}
		reps = append(reps, rep)
		v.Recorder().Audit(ctx, tlog.Entry{Kind: tlog.KindVerify, Site: name, Details: map[string]string{"proof": "true", "objects": fmt.Sprint(rep.Objects), "proved": fmt.Sprint(rep.Proved), "damage": fmt.Sprint(len(rep.Damage)),
			source.DetailLatency: strconv.FormatFloat(rep.Latency, 'f', 3, 64)}})
	}
	return reps, nil
}
