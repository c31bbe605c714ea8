// Command policy measures the cost of policy decisions: building the engine
// (parse the cedar rules, parse and verify the agreements) and one Decide
// call, and what they add to a snapshot that asks one decision per site.
//
//	go run ./bench/policy [-n 200000] [-sites 3] [-snapshot 100ms]
package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/policy"
)

func main() {
	n := flag.Int("n", 200000, "decisions to time")
	sites := flag.Int("sites", 3, "sites a snapshot writes to (one decision each)")
	snap := flag.Duration("snapshot", 100*time.Millisecond, "duration of the snapshot to compare with (bench/results/quick.md: 0.10 s for an incremental 64 MiB snapshot)")
	examples := flag.String("examples", "examples/agreements", "folder of example agreements")
	flag.Parse()

	seed := sha256.Sum256([]byte("bench"))
	sk := ed25519.NewKeyFromSeed(seed[:])
	hseed := sha256.Sum256([]byte("bench host"))
	hk := ed25519.NewKeyFromSeed(hseed[:])
	var docs [][]byte
	for _, name := range []string{"ee-lu", "mc-lu"} {
		b, err := os.ReadFile(filepath.Join(*examples, name+".yaml"))
		if err != nil {
			log.Fatal(err)
		}
		s := strings.Replace(string(b), "SENDING_KEY", agreement.FormatPublicKey(sk.Public().(ed25519.PublicKey)), 1)
		s = strings.Replace(s, "HOST_KEY", agreement.FormatPublicKey(hk.Public().(ed25519.PublicKey)), 1)
		doc := []byte(s)
		for _, k := range []struct {
			role string
			key  ed25519.PrivateKey
		}{{agreement.Sending, sk}, {agreement.Host, hk}} {
			a, err := agreement.Parse(doc)
			if err != nil {
				log.Fatal(err)
			}
			sig, _ := agreement.Sign(a, k.role, k.key)
			doc, _ = agreement.SetSignature(doc, k.role, sig)
		}
		docs = append(docs, doc)
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

	// Engine build, as each command does once: parse, verify, check, compile.
	const builds = 200
	var eng *policy.Engine
	t0 := time.Now()
	for range builds {
		base := agreement.DefaultBaseline()
		var ags []*agreement.Agreement
		for _, d := range docs {
			a, err := agreement.Parse(d)
			if err != nil {
				log.Fatal(err)
			}
			if err := agreement.Verify(a); err != nil {
				log.Fatal(err)
			}
			if _, err := agreement.CheckBaseline(a, base); err != nil {
				log.Fatal(err)
			}
			ags = append(ags, a)
		}
		s := policy.DefaultSettings(base)
		s.HomeLocation = "59.437,24.7536"
		var err error
		if eng, err = policy.New(s, base, ags); err != nil {
			log.Fatal(err)
		}
	}
	build := time.Since(t0) / builds

	reqs := []policy.Request{
		{Action: policy.Write, Dataset: policy.Dataset{Name: "population", Class: "C2-I3-A3"}, Site: policy.Site{Name: "lu", Jurisdiction: "LU", DistanceKm: 1660, Agreement: "ee-lu", Tier: 4}, Now: now},
		{Action: policy.Write, Dataset: policy.Dataset{Name: "secrets", Class: "C3-I3-A3"}, Site: policy.Site{Name: "lu2", Jurisdiction: "LU", DistanceKm: 1660, Agreement: "mc-lu"}, Now: now},
	}
	lat := make([]time.Duration, 0, *n)
	for i := range *n {
		r := reqs[i%len(reqs)]
		t := time.Now()
		eng.Decide(r)
		lat = append(lat, time.Since(t))
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	mean := sum / time.Duration(len(lat))
	p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	perSnap := build + time.Duration(*sites)*mean
	fmt.Printf("engine build (2 agreements: parse, verify, baseline, compile): %v\n", build)
	fmt.Printf("decision (allow/deny mix, %d runs): mean %v, p50 %v, p99 %v\n", *n, mean, p(0.50), p(0.99))
	fmt.Printf("per snapshot (build + %d decisions): %v = %.3f%% of a %v snapshot\n", *sites, perSnap, 100*float64(perSnap)/float64(*snap), *snap)
}
