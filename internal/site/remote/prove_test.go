package remote_test

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/proof"
	"github.com/digital-embassy/embassy/internal/server/servertest"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
)

func TestProveAgainstLyingHost(t *testing.T) {
	store := mem.New(site.Properties{})
	env := servertest.Start(t, store, nil)
	home := env.Client(t, pki.RoleHome, "home")
	auditor := env.Client(t, pki.RoleAuditor, "audit")
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(1, 2))
	copies := map[site.Handle][]byte{}
	var handles []site.Handle
	for i := range 40 {
		data := make([]byte, 1+rng.IntN(100<<10))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		sum := blake3.Sum256(data)
		h := site.Handle{Kind: site.KindPack, Name: "00112233445566778899aabbccddeeff/" + hex.EncodeToString(sum[:1]) + "/" + hex.EncodeToString(sum[:])}
		if i%2 == 0 {
			if err := home.Put(ctx, h, site.Bytes(data), site.PutOptions{IfAbsent: true}); err != nil {
				t.Fatal(err)
			}
		} else if err := store.Put(ctx, h, site.Bytes(data), site.PutOptions{}); err != nil { // outboard built at first proof
			t.Fatal(err)
		}
		handles = append(handles, h)
		copies[h] = data
	}
	repoCfg := site.Handle{Kind: site.KindConfig, Name: "repo"}
	copies[repoCfg] = []byte(`{"home":"h1"}`)
	if err := home.Put(ctx, repoCfg, site.Bytes(copies[repoCfg]), site.PutOptions{IfAbsent: true}); err != nil {
		t.Fatal(err)
	}
	handles = append(handles, repoCfg)
	names := map[site.Kind][]string{}
	for _, h := range handles {
		names[h.Kind] = append(names[h.Kind], h.Name)
	}
	exp := proof.Expect{Bytes: func(h site.Handle) ([]byte, bool) { d, ok := copies[h]; return d, ok }, Names: names}
	check := func(what string) proof.Report {
		t.Helper()
		c := proof.NewChallenge(handles, 0, 2, site.KindPack, site.KindConfig)
		resp, err := auditor.Prove(ctx, c)
		if err != nil {
			t.Fatalf("%s: Prove: %v", what, err)
		}
		return proof.Verify(c, resp, exp)
	}
	if rep := check("honest"); !rep.OK() || rep.Proved != len(handles) {
		t.Fatalf("honest site: %+v", rep)
	}
	// The host flips a byte in the last chunk (always revealed) behind the daemon.
	victim := handles[3]
	bad := bytes.Clone(copies[victim])
	bad[len(bad)-1] ^= 1
	store.Put(ctx, victim, site.Bytes(bad), site.PutOptions{})
	wantProblem(t, check("flipped"), victim, "corrupt")
	store.Put(ctx, victim, site.Bytes(copies[victim]), site.PutOptions{})
	// Deleted.
	store.Delete(ctx, handles[5])
	rep := check("deleted")
	wantProblem(t, rep, handles[5], "missing")
	if !hasListing(rep) {
		t.Errorf("deleted object: listing not reported stale: %+v", rep.Problems)
	}
	store.Put(ctx, handles[5], site.Bytes(copies[handles[5]]), site.PutOptions{})
	// An old or foreign config put back.
	store.Put(ctx, repoCfg, site.Bytes(`{"home":"h0"}`), site.PutOptions{})
	wantProblem(t, check("old config"), repoCfg, "mismatch")
	store.Put(ctx, repoCfg, site.Bytes(copies[repoCfg]), site.PutOptions{})
	if rep := check("repaired"); !rep.OK() {
		t.Fatalf("repaired site: %+v", rep.Problems)
	}
}

func wantProblem(t *testing.T, rep proof.Report, h site.Handle, what string) {
	t.Helper()
	for _, p := range rep.Problems {
		if p.Handle == h && p.What == what {
			return
		}
	}
	t.Errorf("want a %q problem for %v, got %+v", what, h, rep.Problems)
}

func hasListing(rep proof.Report) bool {
	for _, p := range rep.Problems {
		if p.What == "listing" {
			return true
		}
	}
	return false
}
