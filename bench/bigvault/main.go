// Command bigvault grows a dataset of an existing home to N synthetic
// blobs, to measure home memory as the vault grows (issue 17): the blobs
// are distinct 16-byte values stored through the ordinary writer (packed,
// sealed, indexed), referenced by no snapshot. Then time and measure
// 'embassy snapshot' and 'embassy restore' of a small folder against it.
//
//	embassy init ... && embassy site add local --url DIR/repo ...
//	go run ./bench/bigvault -home $EMBASSY_HOME -dataset bench -n 10000000
//
// bench/bigvault/run.sh DIR N does both and measures (bench/README.md,
// round three).
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/vault"
)

func main() {
	home := flag.String("home", os.Getenv("EMBASSY_HOME"), "home folder (default $EMBASSY_HOME)")
	name := flag.String("dataset", "bench", "dataset to grow")
	n := flag.Int64("n", 10_000_000, "blobs to add")
	seed := flag.Uint64("seed", 1, "seed of the blob values (another seed adds other blobs)")
	flag.Parse()
	if *home == "" {
		log.Fatal("bigvault: no home: pass -home or set EMBASSY_HOME")
	}
	ctx := context.Background()
	v, err := vault.Open(ctx, *home, true, vault.Options{})
	if err != nil {
		log.Fatalf("bigvault: open the home: %v", err)
	}
	defer v.Close()
	dk, _, err := v.Repo.EnsureDataset(ctx, *name)
	if err != nil {
		log.Fatalf("bigvault: dataset %s: %v", *name, err)
	}
	d, err := v.Repo.OpenDataset(ctx, dk)
	if err != nil {
		log.Fatalf("bigvault: open dataset %s: %v", *name, err)
	}
	start := time.Now()
	w := d.NewWriter(ctx)
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := &repo.Scratch{}
			b := make([]byte, 16)
			for {
				i := next.Add(1) - 1
				if i >= *n || failed.Load() != nil {
					return
				}
				binary.BigEndian.PutUint64(b, *seed)
				binary.BigEndian.PutUint64(b[8:], uint64(i))
				if _, _, err := w.SaveBlob(repo.BlobData, b, sc); err != nil {
					failed.Store(&err)
					return
				}
				if i > 0 && i%1_000_000 == 0 {
					fmt.Fprintf(os.Stderr, "bigvault: %d blobs, %.0f s\n", i, time.Since(start).Seconds())
				}
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		w.Abort()
		log.Fatalf("bigvault: store: %v", *err)
	}
	if err := w.Flush(); err != nil {
		log.Fatalf("bigvault: flush: %v", err)
	}
	fmt.Printf("bigvault: %d new blobs in %d packs, %d index objects, %.1f s\n",
		w.Stats.NewBlobs.Load(), w.Stats.Packs.Load(), w.Stats.Indexes.Load(), time.Since(start).Seconds())
}
