// Command tlog benchmarks the transparency log: sustained appends per second
// end to end (each append returns only once a checkpoint covering it is
// cosigned by two witnesses over loopback HTTP), append-to-cosigned-
// checkpoint latency, receipt generation and offline verification rates.
//
//	go run ./bench/tlog [-n 50000] [-c 4096] [-mldsa]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/witness"
)

func main() {
	n := flag.Int("n", 50000, "entries to append")
	c := flag.Int("c", 4096, "concurrent appenders")
	mldsa := flag.Bool("mldsa", false, "make the second witness ML-DSA-44")
	proofs := flag.Int("proofs", 2000, "receipts to generate and verify")
	batch := flag.Uint("batch", 0, "tessera batch size (0: tlog's default)")
	batchAge := flag.Duration("batch-age", 0, "tessera batch max age (0: tlog's default)")
	interval := flag.Duration("interval", 0, "checkpoint interval (0: tlog's default)")
	bundle := flag.Bool("bundle", true, "also export and verify a bundle of the whole log")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the sustained appends to this file")
	flag.Parse()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "tlog-bench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	origin := tlog.Origin("bench")
	signer, vkey, err := tlog.LoadOrCreateKey(dir, origin)
	check(err)
	pol := fmt.Sprintf("log %s\n", vkey)
	for i, name := range []string{"home", "host"} {
		alg := witness.Ed25519
		if i == 1 && *mldsa {
			alg = witness.MLDSA44
		}
		wdir := filepath.Join(dir, "w-"+name)
		s, wv, err := witness.LoadOrCreateKey(wdir, name, alg)
		check(err)
		w, err := witness.New(witness.Config{Dir: wdir, Signer: s, Logs: []string{vkey}})
		check(err)
		addr := make(chan net.Addr, 1)
		go func() { _ = witness.Serve(ctx, "127.0.0.1:0", w.Handler(), func(a net.Addr) { addr <- a }) }()
		pol += fmt.Sprintf("witness %s %s http://%s\n", name, wv, <-addr)
	}
	pol += "group both all home host\nquorum both\n"
	p, err := tlog.ParsePolicy([]byte(pol))
	check(err)
	l, err := tlog.Open(ctx, filepath.Join(dir, "log"), tlog.Options{Signer: signer, Policy: p,
		BatchMaxSize: *batch, BatchMaxAge: *batchAge, CheckpointInterval: *interval})
	check(err)

	entry := func(i int) tlog.Entry {
		return tlog.Entry{V: tlog.Version, Kind: tlog.KindKeyUse, Time: time.Now().UTC(), Actor: "host:broker",
			Home: "bench", Site: "lu-1", Dataset: fmt.Sprintf("ds-%06d", i%1000), Object: fmt.Sprintf("%064x", i),
			Details: map[string]string{"initiator": "home", "workload": "inference-7"}}
	}
	// Light load: one append at a time.
	var light []time.Duration
	for i := 0; i < 30; i++ {
		t0 := time.Now()
		_, _, err := l.Append(ctx, entry(i))
		check(err)
		light = append(light, time.Since(t0))
	}
	// Sustained: c appenders, n entries.
	lat := make([]time.Duration, *n)
	next := make(chan int, *n)
	for i := 0; i < *n; i++ {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		check(err)
		check(pprof.StartCPUProfile(f))
	}
	start := time.Now()
	for g := 0; g < *c; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t0 := time.Now()
				if _, _, err := l.Append(ctx, entry(i)); err != nil {
					log.Fatal(err)
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	pprof.StopCPUProfile()
	check(l.Close(ctx))

	r := tlog.NewReader(filepath.Join(dir, "log"), p)
	cp, _, err := r.Checkpoint(ctx)
	check(err)
	var receipts [][]byte
	t0 := time.Now()
	for i := 0; i < *proofs; i++ {
		rc, err := r.Receipt(ctx, rand.Uint64N(cp.Size))
		check(err)
		receipts = append(receipts, rc)
	}
	genRate := float64(*proofs) / time.Since(t0).Seconds()
	t0 = time.Now()
	for _, rc := range receipts {
		_, _, err := tlog.VerifyReceipt(rc, p)
		check(err)
	}
	verRate := float64(*proofs) / time.Since(t0).Seconds()
	var bundleOut []byte
	var ents []tlog.Indexed
	var exp, ver time.Duration
	if *bundle {
		t0 = time.Now()
		bundleOut, err = r.Export(ctx, time.Time{}, time.Time{}, signer)
		check(err)
		exp = time.Since(t0)
		t0 = time.Now()
		_, ents, err = tlog.VerifyBundle(bundleOut, p)
		check(err)
		ver = time.Since(t0)
	}

	second := "Ed25519"
	if *mldsa {
		second = "ML-DSA-44"
	}
	fmt.Printf("witnesses: 2 on loopback HTTP (Ed25519 + %s), quorum all; checkpoint interval 100 ms\n", second)
	fmt.Printf("sustained appends: %d entries, %d appenders, %.2f s: %.0f entries/s (each acknowledged only after a cosigned checkpoint)\n",
		*n, *c, el.Seconds(), float64(*n)/el.Seconds())
	fmt.Printf("append -> cosigned checkpoint under load: p50 %s, p99 %s\n", pct(lat, 50), pct(lat, 99))
	fmt.Printf("append -> cosigned checkpoint, one at a time: p50 %s, p99 %s\n", pct(light, 50), pct(light, 99))
	fmt.Printf("receipts: generate %.0f/s, verify offline %.0f/s; receipt size %d bytes; tree size %d\n", genRate, verRate, len(receipts[0]), cp.Size)
	if *bundle {
		fmt.Printf("bundle of %d entries: export %s, verify offline %s (%.0f entries/s), %d MB\n", len(ents), exp.Round(time.Millisecond), ver.Round(time.Millisecond),
			float64(len(ents))/ver.Seconds(), len(bundleOut)>>20)
	}
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100].Round(time.Millisecond)
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
