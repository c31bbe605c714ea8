// Command proof measures a proof round trip against an in-process embassy
// daemon over mutual TLS on loopback: it uploads -objects content-addressed
// objects of -size bytes, then challenges all of them (-chunks random chunks
// each plus the last) and verifies the answer.
//
//	go run ./bench/proof -objects 10000 -size 65536 -store mem
package main

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/zeebo/blake3"

	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/proof"
	"github.com/digital-embassy/embassy/internal/server"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/fs"
	"github.com/digital-embassy/embassy/internal/site/mem"
	"github.com/digital-embassy/embassy/internal/site/remote"
)

func main() {
	objects := flag.Int("objects", 10000, "objects to upload and challenge")
	size := flag.Int("size", 64<<10, "object size in bytes")
	chunks := flag.Int("chunks", 2, "random chunks revealed per object, besides the last")
	store := flag.String("store", "mem", "mem or fs (a temporary directory)")
	rounds := flag.Int("rounds", 3, "challenges to time")
	cold := flag.Bool("cold", false, "write objects behind the daemon, so the first proof builds every outboard")
	flag.Parse()
	if err := run(*objects, *size, *chunks, *store, *rounds, *cold); err != nil {
		fmt.Fprintln(os.Stderr, "proof bench:", err)
		os.Exit(1)
	}
}

func run(objects, size, chunks int, store string, rounds int, cold bool) error {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "embassy-proof-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var b site.Backend = mem.New(site.Properties{Name: "bench"})
	if store == "fs" {
		if b, err = fs.New(ctx, fs.Config{Path: filepath.Join(tmp, "site"), Create: true}); err != nil {
			return err
		}
	}
	ca, err := pki.Init(filepath.Join(tmp, "pki"), "hbench", time.Now())
	if err != nil {
		return err
	}
	pair := func(r pki.Request) tls.Certificate {
		is, err := ca.Issue(r)
		if err != nil {
			panic(err)
		}
		p, _ := tls.X509KeyPair(is.CertPEM, is.KeyPEM)
		return p
	}
	pool := newPool(ca)
	srv, err := server.New(server.Config{Backend: b, ClientCAs: pool, Home: ca.Home, Certificate: pair(pki.Request{Role: pki.RoleSite, Name: "site", Hosts: []string{"127.0.0.1"}})})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = srv.Serve(sctx, ln) }()
	home := pair(pki.Request{Role: pki.RoleHome, Name: "home"})
	client, err := remote.NewWithTLS(ctx, remote.Config{Host: ln.Addr().String()}, &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, Certificates: []tls.Certificate{home}, CurvePreferences: pki.CurvePreferences})
	if err != nil {
		return err
	}
	defer client.Close()

	handles := make([]site.Handle, objects)
	t0 := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 16)
	for i := range objects {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			data := make([]byte, size)
			for j := 0; j+8 <= len(data); j += 8 {
				v := rng.Uint64()
				for k := range 8 {
					data[j+k] = byte(v >> (8 * k))
				}
			}
			sum := blake3.Sum256(data)
			h := site.Handle{Kind: site.KindPack, Name: "00112233445566778899aabbccddeeff/" + hex.EncodeToString(sum[:1]) + "/" + hex.EncodeToString(sum[:])}
			handles[i] = h
			var err error
			if cold {
				err = b.Put(ctx, h, site.Bytes(data), site.PutOptions{IfAbsent: true})
			} else {
				err = client.Put(ctx, h, site.Bytes(data), site.PutOptions{IfAbsent: true})
			}
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	fmt.Printf("uploaded %d objects of %d bytes (%s store%s) in %v\n", objects, size, store, map[bool]string{true: ", written behind the daemon"}[cold], time.Since(t0).Round(time.Millisecond))
	cs, _ := client.ConnectionState(ctx)
	fmt.Printf("link: TLS 1.3, %v, %s; GOMAXPROCS %d\n", cs.CurveID, cs.NegotiatedProtocol, runtime.GOMAXPROCS(0))
	for r := range rounds {
		c := proof.NewChallenge(handles, 0, chunks, site.KindPack)
		t1 := time.Now()
		resp, err := client.Prove(ctx, c)
		if err != nil {
			return err
		}
		rt := time.Since(t1)
		t2 := time.Now()
		names := make([]string, len(handles))
		for i, h := range handles {
			names[i] = h.Name
		}
		rep := proof.Verify(c, resp, proof.Expect{Names: map[site.Kind][]string{site.KindPack: names}})
		vt := time.Since(t2)
		if !rep.OK() {
			return fmt.Errorf("verification failed: %v", rep.Problems[:min(3, len(rep.Problems))])
		}
		fmt.Printf("round %d: %d objects, %d chunks proved: round trip %v, home verification %v\n", r+1, rep.Proved, rep.Chunks, rt.Round(time.Millisecond), vt.Round(time.Millisecond))
	}
	return nil
}
