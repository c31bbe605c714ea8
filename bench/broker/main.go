// Command broker measures key releases end to end on this machine: a
// workload takes a challenge, quotes the TPM (the reference simulator, in
// process), asks for the dataset's keys over TLS and unwraps them; the
// broker verifies the quote, pins the identity, evaluates the cedar release
// rules and appends the release to a transparency log whose checkpoint is
// cosigned by two witnesses (Ed25519 and ML-DSA-44) over loopback HTTP
// before it answers. It prints p50/p99 latency and releases per second.
//
// With -verify N it first times the offline verification of each recorded
// evidence type (internal/attest/testdata) N times: the per-type part of a
// release, which adds to the broker's other work measured below.
//
//	go run ./bench/broker [-n 300] [-c 4] [-log=true] [-verify 200]
package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/attest"
	"github.com/digital-embassy/embassy/internal/broker"
	"github.com/digital-embassy/embassy/internal/broker/tpmquote"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/witness"
	"github.com/digital-embassy/embassy/internal/workload"
)

type keys struct{}

func (keys) DatasetKey(context.Context, string) (*broker.KeyBundle, error) {
	k := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	return &broker.KeyBundle{Format: broker.KeyBundleFormat, Home: "bench", Dataset: "weights", DatasetID: strings.Repeat("ab", 16),
		Current: 1, Keys: []broker.BundleKey{{Version: 1, Enc: k(1), IDKey: k(2), GearKey: k(3)}}}, nil
}

type nopRecorder struct{}

func (nopRecorder) Record(context.Context, tlog.Entry) error { return nil }

// timedAttester records how long each quote takes.
type timedAttester struct {
	a  *tpmquote.Attester
	mu sync.Mutex
	d  []time.Duration
}

func (t *timedAttester) Quote(rd []byte) ([]byte, error) {
	t0 := time.Now()
	ev, err := t.a.Quote(rd)
	t.mu.Lock()
	t.d = append(t.d, time.Since(t0))
	t.mu.Unlock()
	return ev, err
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100]
}

func main() {
	n := flag.Int("n", 300, "releases to time one at a time")
	c := flag.Int("c", 4, "concurrent workloads for the throughput run")
	withLog := flag.Bool("log", true, "append every release to a witnessed transparency log")
	nv := flag.Int("verify", 200, "offline verifications to time per recorded evidence type (0: skip)")
	flag.Parse()
	if *nv > 0 {
		verifyPerType(*nv)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "broker-bench")
	check(err)
	defer os.RemoveAll(dir)

	var rec broker.Recorder = nopRecorder{}
	if *withLog {
		origin := tlog.Origin("bench")
		signer, vkey, err := tlog.LoadOrCreateKey(dir, origin)
		check(err)
		pol := fmt.Sprintf("log %s\n", vkey)
		for _, w := range []struct{ name, alg string }{{"home", witness.Ed25519}, {"home-pq", witness.MLDSA44}} {
			wdir := filepath.Join(dir, "w-"+w.name)
			s, wv, err := witness.LoadOrCreateKey(wdir, w.name, w.alg)
			check(err)
			wt, err := witness.New(witness.Config{Dir: wdir, Signer: s, Logs: []string{vkey}})
			check(err)
			addr := make(chan net.Addr, 1)
			go witness.Serve(ctx, "127.0.0.1:0", wt.Handler(), func(a net.Addr) { addr <- a }) //nolint:errcheck // ends with the bench
			pol += fmt.Sprintf("witness %s %s http://%s\n", w.name, wv, <-addr)
		}
		pol += "group both all home home-pq\nquorum both\n"
		p, err := tlog.ParsePolicy([]byte(pol))
		check(err)
		l, err := tlog.Open(ctx, filepath.Join(dir, "log"), tlog.Options{Signer: signer, Policy: p})
		check(err)
		defer l.Close(context.Background())
		tr := broker.NewTlogRecorder(ctx, l, nil)
		defer tr.Wait() //nolint:errcheck // the bench counts refusals itself
		rec = tr
	}

	_, sign, _ := ed25519.GenerateKey(rand.Reader)
	st, err := broker.NewStore(filepath.Join(dir, "broker"), []ed25519.PublicKey{sign.Public().(ed25519.PublicKey)})
	check(err)
	a, err := tpmquote.OpenSimulator(1)
	check(err)
	defer a.Close()
	rd := make([]byte, 32)
	ev, err := a.Quote(rd)
	check(err)
	cl, err := tpmquote.Verify(ev, rd)
	check(err)
	delete(cl.Measurements, "tpm.ak")
	refs, err := broker.SignRefs(broker.RefValues{Name: "inference-v1", TEE: "tpm-sim", Measurements: cl.Measurements}, sign)
	check(err)
	b, _ := json.Marshal(refs)
	_, err = st.AddRefs(b)
	check(err)
	_, err = st.ApproveRefs("inference-v1")
	check(err)
	check(os.WriteFile(filepath.Join(dir, "broker", broker.WorkloadsFile), []byte("workloads:\n  - name: w1\n    identity: "+a.Identity()+"\n    site: lu-1\n"), 0o600))
	check(os.WriteFile(filepath.Join(dir, "broker", broker.ReleaseFile), []byte("rules:\n  - name: r1\n    datasets: [weights]\n    tee: [tpm-sim]\n    refs: [inference-v1]\n    sites: [lu-1]\n    jurisdictions: [LU]\n"), 0o600))
	_, ear, _ := ed25519.GenerateKey(rand.Reader)
	br, err := broker.New(broker.Options{Home: "bench", Verifier: tpmquote.Verifier{}, Keys: keys{}, Log: rec, Store: st, EARKey: ear,
		Sites: func(s string) (string, bool) { return "LU", s == "lu-1" }})
	check(err)
	srv := httptest.NewTLSServer(br.Handler())
	defer srv.Close()
	ta := &timedAttester{a: a}
	client := &workload.Client{URL: srv.URL, HTTP: srv.Client(), TEE: "tpm-sim", Home: "bench"}

	release := func() time.Duration {
		t0 := time.Now()
		kb, _, err := client.Fetch(ctx, ta, "weights")
		check(err)
		kb.Wipe()
		return time.Since(t0)
	}
	for i := 0; i < 10; i++ { // warm up: TLS sessions, caches
		release()
	}
	ta.d = nil
	var lat []time.Duration
	t0 := time.Now()
	for i := 0; i < *n; i++ {
		lat = append(lat, release())
	}
	seq := time.Since(t0)
	q := ta.d
	server := make([]time.Duration, len(lat))
	for i := range lat {
		server[i] = lat[i] - q[i]
	}
	fmt.Printf("releases one at a time (n=%d, log=%v):\n", *n, *withLog)
	fmt.Printf("  end to end (challenge, TPM quote, release over TLS, unwrap): p50 %v  p99 %v\n", pct(lat, 50).Round(10*time.Microsecond), pct(lat, 99).Round(10*time.Microsecond))
	fmt.Printf("  of which TPM quote (simulator):                          p50 %v  p99 %v\n", pct(q, 50).Round(10*time.Microsecond), pct(q, 99).Round(10*time.Microsecond))
	fmt.Printf("  without the quote (verify, policy, log append, wrap):    p50 %v  p99 %v\n", pct(server, 50).Round(10*time.Microsecond), pct(server, 99).Round(10*time.Microsecond))
	fmt.Printf("  %.1f releases/s\n", float64(*n)/seq.Seconds())

	var wg sync.WaitGroup
	per := *n / *c
	t0 = time.Now()
	for w := 0; w < *c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				release()
			}
		}()
	}
	wg.Wait()
	fmt.Printf("releases with %d concurrent workloads (one shared simulator): %.1f releases/s\n", *c, float64(per**c)/time.Since(t0).Seconds())
}

// verifyPerType times attest.Verify on each recorded vector (run from the
// module root).
func verifyPerType(n int) {
	dir := filepath.Join("internal", "attest", "testdata")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		check(err)
		return b
	}
	cases := []struct {
		name string
		ev   attest.Evidence
	}{
		{"tpm (trustee quote)", attest.Evidence{TEE: attest.TPM, Raw: read("tpm_evidence.json")}},
		{"snp (report + VCEK)", attest.Evidence{TEE: attest.SNP, Raw: read("snp/test-report.bin"), Certs: read("snp/test-vcek.der")}},
		{"tdx quote v4", attest.Evidence{TEE: attest.TDX, Raw: read("tdx_quote_4.dat")}},
		{"tdx quote v5", attest.Evidence{TEE: attest.TDX, Raw: read("tdx_quote_5.dat")}},
		{"nvidia hopper", attest.Evidence{TEE: attest.NVIDIA, Raw: read("nvidia/hopperAttestationReport.txt"), Certs: read("nvidia/hopper_cert_chain_case1.txt")}},
		{"az-snp-vtpm", attest.Evidence{TEE: attest.AzSNPvTPM, Raw: read("az-snp-vtpm/evidence-v1.json")}},
		{"az-tdx-vtpm", attest.Evidence{TEE: attest.AzTDXvTPM, Raw: read("az-tdx-vtpm/evidence-v1.json")}},
	}
	fmt.Printf("offline verification per evidence type (n=%d each):\n", n)
	for _, c := range cases {
		d := make([]time.Duration, n)
		for i := range d {
			t0 := time.Now()
			_, err := attest.Verify(c.ev, attest.Options{})
			d[i] = time.Since(t0)
			check(err)
		}
		fmt.Printf("  %-22s p50 %v  p99 %v\n", c.name, pct(d, 50).Round(time.Microsecond), pct(d, 99).Round(time.Microsecond))
	}
}
