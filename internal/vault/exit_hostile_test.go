package vault

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/site"
)

// hostileExitSite is lu's storage played by a hostile host during an
// exit: it may serve altered bytes for packs, or plant an object while
// the home deletes.
type hostileExitSite struct {
	site.Backend
	corrupt atomic.Bool // serve every pack with one bit flipped
	plant   atomic.Bool // put a new object at the first deletion
	planted atomic.Bool
}

func (h *hostileExitSite) Get(ctx context.Context, hd site.Handle, off, n int64, fn func(io.Reader) error) error {
	if !h.corrupt.Load() || hd.Kind != site.KindPack {
		return h.Backend.Get(ctx, hd, off, n, fn)
	}
	return h.Backend.Get(ctx, hd, off, n, func(r io.Reader) error {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		b = bytes.Clone(b)
		b[len(b)/2] ^= 1
		return fn(bytes.NewReader(b))
	})
}

func (h *hostileExitSite) Delete(ctx context.Context, hd site.Handle) error {
	if h.plant.Load() && !h.planted.Swap(true) {
		_ = h.Backend.Put(ctx, site.Handle{Kind: site.KindPack, Name: "planted/after-export"}, site.Bytes("kept"), site.PutOptions{})
	}
	return h.Backend.Delete(ctx, hd)
}

// hostileVault is newVault whose site lu is the hostile host's.
func hostileVault(t *testing.T) (dir string, o Options, lu *hostileExitSite) {
	t.Helper()
	dir, o = newVault(t, "lu=LU", "ch=CH")
	inner := o.OpenSite
	lu = &hostileExitSite{}
	o.OpenSite = func(ctx context.Context, sc home.SiteConfig, create bool) (site.Backend, error) {
		b, err := inner(ctx, sc, create)
		if err != nil || sc.Name != "lu" {
			return b, err
		}
		if lu.Backend == nil {
			lu.Backend = b
		}
		return lu, nil
	}
	v := open(t, dir, o)
	src := filepath.Join(dir, "src")
	writeTree(t, src, map[string]string{"rows.csv": strings.Repeat("38501012231,Mari,Tamm\n", 300)})
	if _, err := v.Snapshot(context.Background(), SnapshotRequest{Dataset: "census", Paths: []string{src}, Class: "restricted", By: "test"}); err != nil {
		t.Fatal(err)
	}
	v.Close()
	return dir, o, lu
}

// exitStaysOpen checks that a refused exit deleted nothing it should
// not have, left the site registered and the exit open.
func exitStaysOpen(t *testing.T, v *Vault, err error) {
	t.Helper()
	if err == nil || hint.CodeOf(err) != hint.CodeDamaged {
		t.Fatalf("exit: %v (code %d), want refused as damage", err, hint.CodeOf(err))
	}
	if sc, _ := v.Home.Site("lu"); sc == nil {
		t.Error("the site left the registry although the exit was refused")
	}
	st, serr := v.ExitStatus()
	if serr != nil || len(st) != 1 || st[0].Site != "lu" {
		t.Errorf("open exits %+v, %v: the refused exit must stay open (and become overdue)", st, serr)
	}
}

// TestExitHostServesAlteredBytes: the host serves altered packs during
// the export, so that the home would take away an archive that does not
// restore and delete the only good copy. The restore proof in a fresh
// site reads all data and fails; nothing is deleted.
func TestExitHostServesAlteredBytes(t *testing.T) {
	dir, o, lu := hostileVault(t)
	v := open(t, dir, o)
	lu.corrupt.Store(true)
	var before int
	_ = lu.Backend.List(context.Background(), site.KindPack, func(site.Info) error { before++; return nil })
	_, err := v.Exit(context.Background(), ExitRequest{Site: "lu", Archive: filepath.Join(dir, "lu.tar")})
	exitStaysOpen(t, v, err)
	if !strings.Contains(err.Error(), "does not restore; nothing was deleted") {
		t.Errorf("exit error: %v", err)
	}
	var after int
	_ = lu.Backend.List(context.Background(), site.KindPack, func(site.Info) error { after++; return nil })
	if before == 0 || after != before {
		t.Errorf("packs at the site: %d before, %d after a refused exit", before, after)
	}
}

// TestExitHostPlantsDuringDeletion: the host adds an object while the
// home deletes (to keep data and still obtain a certificate). The home's
// listing after deletion counts it, the certificate does not verify, and
// the exit is refused and stays open.
func TestExitHostPlantsDuringDeletion(t *testing.T) {
	dir, o, lu := hostileVault(t)
	v := open(t, dir, o)
	lu.plant.Store(true)
	rep, err := v.Exit(context.Background(), ExitRequest{Site: "lu", Archive: filepath.Join(dir, "lu.tar")})
	exitStaysOpen(t, v, err)
	if !lu.planted.Load() || rep == nil || rep.Done || !strings.Contains(err.Error(), "still lists 1 objects") {
		t.Errorf("report %+v, error %v", rep, err)
	}
}
