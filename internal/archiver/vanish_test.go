package archiver_test

import (
	"context"
	crand "crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/digital-embassy/embassy/internal/archiver"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
)

// gate holds every pack upload until released, so that a test can change
// the sources after the scan and before the workers reach them.
type gate struct {
	site.Backend
	once    sync.Once
	blocked chan struct{} // closed when the first pack upload waits
	release chan struct{}
}

func (g *gate) Put(ctx context.Context, h site.Handle, p site.Payload, o site.PutOptions) error {
	if h.Kind == site.KindPack {
		g.once.Do(func() { close(g.blocked) })
		select {
		case <-g.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g.Backend.Put(ctx, h, p, o)
}

func (g *gate) Unwrap() site.Backend { return g.Backend }

// TestSourceVanishesDuringSnapshot removes a file after the scan listed it
// and before a worker opens it: the snapshot completes without it and
// reports it as skipped; everything else restores.
func TestSourceVanishesDuringSnapshot(t *testing.T) {
	v := newVault(t, 1)
	g := &gate{Backend: v.sites[0].Backend, blocked: make(chan struct{}), release: make(chan struct{})}
	v.sites[0].Backend = g
	r := v.open()
	ctx := context.Background()
	dk, _, err := r.EnsureDataset(ctx, "ds")
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.OpenDataset(ctx, dk)
	if err != nil {
		t.Fatal(err)
	}
	// Two workers, three large files ahead of the victim: both workers
	// block on the held uploads long before either finishes its file.
	src := t.TempDir()
	for _, n := range []string{"a.bin", "b.bin", "c.bin"} {
		b := make([]byte, 8<<20)
		crand.Read(b)
		os.WriteFile(filepath.Join(src, n), b, 0o644)
	}
	victim := filepath.Join(src, "z-victim.txt")
	os.WriteFile(victim, []byte("here at scan time"), 0o644)

	type out struct {
		res *archiver.Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := archiver.Run(ctx, d, archiver.Options{Paths: []string{src}, Workers: 2})
		done <- out{res, err}
	}()
	select {
	case <-g.blocked:
	case o := <-done:
		t.Fatalf("snapshot finished before any upload: %v", o.err)
	}
	if err := os.Remove(victim); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	o := <-done
	if o.err != nil {
		t.Fatalf("snapshot with a vanished file: %v", o.err)
	}
	if len(o.res.Skipped) != 1 || o.res.Skipped[0].Path != victim || !errors.Is(o.res.Skipped[0].Err, fs.ErrNotExist) || !o.res.Incomplete {
		t.Fatalf("skipped: %v (incomplete %v)", o.res.Skipped, o.res.Incomplete)
	}
	s := &repo.Snapshot{Paths: []string{src}, Tree: o.res.Tree, Root: o.res.Root, Stats: o.res.Stats}
	if _, err := d.SaveSnapshot(ctx, s); err != nil {
		t.Fatal(err)
	}
	// Before this was fixed the vanished file stayed in the tree without
	// content, and the whole restore failed.
	restoreAndCompare(t, v.open(), "ds", s, src)
	if o.res.Stats.Files != 3 || o.res.Stats.Bytes != 3*8<<20 {
		t.Errorf("stats count %d files, %d bytes; want the 3 files read", o.res.Stats.Files, o.res.Stats.Bytes)
	}
}
