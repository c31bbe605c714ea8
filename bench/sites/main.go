// Command sites measures the real binaries against several sites at once:
//
//	replicate  a first snapshot of the corpus to a local directory, to
//	           versitygw, to SeaweedFS, and to all three at once
//	erasure    a full restore through an erasure group K+M of embassyd
//	           daemons on loopback, all members up and with one stopped
//
// It prints the median of -runs runs of each case and the ratios.
//
//	scripts/s3-servers.sh start && . "$(scripts/s3-servers.sh env)"
//	go run ./bench/sites -corpus /tmp/embassy-bench/corpus/s1-2GiB replicate erasure
//
// The S3 sites get a fresh prefix per run under EMBASSY_TEST_S3_URL and
// EMBASSY_TEST_S3_SEAWEED_URL, deleted afterwards; without those variables
// the replicate case runs the local directory only.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/location"
)

var (
	corpus  = flag.String("corpus", "/tmp/embassy-bench/corpus/s1-2GiB", "source tree to snapshot (go run ./bench/corpus -o DIR -size 2GiB -seed 1)")
	runs    = flag.Int("runs", 3, "runs of each case (medians are printed)")
	scratch = flag.String("dir", "", "scratch directory (default: a temporary one, removed)")
	geom    = flag.String("erasure", "2+1", "erasure geometry K+M for the erasure case")
	stopIdx = flag.Int("stop", 0, "member stopped in the degraded erasure runs (0: a data member, so every stripe is decoded)")
	cpuProf = flag.String("cpuprofile", "", "erasure: write the client's CPU profile of each restore to DIR/restore-RUN-STATE.pprof")
)

func main() {
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: go run ./bench/sites [flags] replicate|erasure...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	cases := flag.Args()
	if len(cases) == 0 {
		cases = []string{"replicate", "erasure"}
	}
	if err := run(cases); err != nil {
		fmt.Fprintln(os.Stderr, "sites bench:", err)
		os.Exit(1)
	}
}

type bench struct {
	dir, bin, daemon string
	bytes            int64
}

func run(cases []string) error {
	if _, err := os.Stat(*corpus); err != nil {
		return fmt.Errorf("corpus: %w (generate it with go run ./bench/corpus -o DIR -size 2GiB -seed 1)", err)
	}
	b := &bench{dir: *scratch}
	if b.dir == "" {
		d, err := os.MkdirTemp("", "embassy-sites-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		b.dir = d
	}
	b.bin, b.daemon = filepath.Join(b.dir, "embassy"), filepath.Join(b.dir, "embassyd")
	for _, p := range [][2]string{{b.bin, "./cmd/embassy"}, {b.daemon, "./cmd/embassyd"}} {
		if out, err := exec.Command("go", "build", "-o", p[0], p[1]).CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", p[1], err, out)
		}
	}
	_ = filepath.Walk(*corpus, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			b.bytes += fi.Size()
		}
		return nil
	})
	fmt.Printf("corpus %s: %.2f GiB, %d run(s) per case, %d CPUs\n", *corpus, float64(b.bytes)/(1<<30), *runs, runtime.NumCPU())
	for _, c := range cases {
		var err error
		switch c {
		case "replicate":
			err = b.replicate()
		case "erasure":
			err = b.erasure()
		default:
			err = fmt.Errorf("unknown case %q", c)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", c, err)
		}
	}
	return nil
}

// home is one fresh embassy home under the scratch directory.
type home struct {
	b   *bench
	dir string
}

func (b *bench) newHome(name string) (*home, error) {
	h := &home{b: b, dir: filepath.Join(b.dir, name)}
	os.RemoveAll(h.dir)
	if err := os.MkdirAll(h.dir, 0o755); err != nil {
		return nil, err
	}
	var recips []string
	for i := range 3 {
		out, err := h.run("custodian", "keygen", "-o", filepath.Join(h.dir, fmt.Sprintf("c%d.key", i)))
		if err != nil {
			return nil, err
		}
		recips = append(recips, strings.TrimSpace(out))
	}
	_, err := h.run("init", "--threshold", "2", "--custodian", recips[0], "--custodian", recips[1], "--custodian", recips[2])
	return h, err
}

func (h *home) run(args ...string) (string, error) {
	c := exec.Command(h.b.bin, append([]string{"--home", filepath.Join(h.dir, "home"), "--progress", "never"}, args...)...)
	c.Env = append(os.Environ(), "EMBASSY_HOME=")
	out, err := c.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("embassy %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (h *home) timed(args ...string) (time.Duration, error) {
	d, _, err := h.timedEnv(nil, args...)
	return d, err
}

// timedEnv runs embassy with extra environment variables and returns its
// wall time and CPU time (user + system).
func (h *home) timedEnv(env []string, args ...string) (wall, cpu time.Duration, err error) {
	c := exec.Command(h.b.bin, append([]string{"--home", filepath.Join(h.dir, "home"), "--progress", "never"}, args...)...)
	c.Env = append(append(os.Environ(), "EMBASSY_HOME="), env...)
	t0 := time.Now()
	out, err := c.CombinedOutput()
	wall = time.Since(t0)
	if err != nil {
		return wall, 0, fmt.Errorf("embassy %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return wall, c.ProcessState.UserTime() + c.ProcessState.SystemTime(), nil
}

// replicate times a first snapshot to each site alone and to all at once.
func (b *bench) replicate() error {
	type target struct{ name, url, jur string }
	all := []target{{"fs", "", "LU"}}
	for _, s := range []struct{ name, env, jur string }{{"versitygw", "EMBASSY_TEST_S3_URL", "CH"}, {"seaweedfs", "EMBASSY_TEST_S3_SEAWEED_URL", "FI"}} {
		if u := os.Getenv(s.env); u != "" {
			all = append(all, target{s.name, u, s.jur})
		} else {
			fmt.Printf("replicate: %s not set, skipping %s\n", s.env, s.name)
		}
	}
	cases := [][]target{}
	for _, t := range all {
		cases = append(cases, []target{t})
	}
	if len(all) > 1 {
		cases = append(cases, all)
	}
	label := func(ts []target) string {
		var n []string
		for _, t := range ts {
			n = append(n, t.name)
		}
		return strings.Join(n, "+")
	}
	times := map[string][]time.Duration{}
	stamp := time.Now().UTC().Format("20060102-150405")
	for r := range *runs {
		for ci := range cases {
			ts := cases[(ci+r)%len(cases)] // rotate the order per run
			h, err := b.newHome("replicate")
			if err != nil {
				return err
			}
			var cleanup []string
			for _, t := range ts {
				u := filepath.Join(h.dir, "site-"+t.name)
				if t.url != "" {
					u = withPrefix(t.url, fmt.Sprintf("bench-sites/%s-%d-%d/%s", stamp, r, ci, t.name))
					cleanup = append(cleanup, u)
				}
				if _, err := h.run("site", "add", t.name, "--url", u, "--jurisdiction", t.jur); err != nil {
					return err
				}
			}
			d, err := h.timed("snapshot", "bench", *corpus, "--class", "internal")
			for _, u := range cleanup {
				if cerr := deleteAll(u); cerr != nil {
					fmt.Fprintf(os.Stderr, "replicate: cleanup %s: %v\n", u, cerr)
				}
			}
			os.RemoveAll(h.dir)
			if err != nil {
				return err
			}
			times[label(ts)] = append(times[label(ts)], d)
			fmt.Printf("  run %d %-28s %7.2f s  %6.0f MiB/s\n", r+1, label(ts), d.Seconds(), b.mibps(d))
		}
	}
	fmt.Printf("replicate: first snapshot, median of %d\n", *runs)
	slowest := time.Duration(0)
	for _, ts := range cases {
		m := median(times[label(ts)])
		if len(ts) == 1 {
			slowest = max(slowest, m)
		}
		fmt.Printf("  %-28s %7.2f s  %6.0f MiB/s\n", label(ts), m.Seconds(), b.mibps(m))
	}
	if len(all) > 1 {
		m := median(times[label(all)])
		fs := median(times["fs"])
		fmt.Printf("  all %d sites at once vs the slowest site alone: %.2fx the time; vs local fs alone: %.2fx\n",
			len(all), m.Seconds()/slowest.Seconds(), m.Seconds()/fs.Seconds())
	}
	return nil
}

// erasure times restores through a K+M group of daemons on loopback.
func (b *bench) erasure() error {
	var k, m int
	if _, err := fmt.Sscanf(*geom, "%d+%d", &k, &m); err != nil || k < 1 || m < 1 {
		return fmt.Errorf("-erasure %q: want K+M", *geom)
	}
	if *stopIdx < 0 || *stopIdx >= k+m {
		return fmt.Errorf("-stop %d: want 0..%d", *stopIdx, k+m-1)
	}
	h, err := b.newHome("erasure")
	if err != nil {
		return err
	}
	defer os.RemoveAll(h.dir)
	if _, err := h.run("pki", "init"); err != nil {
		return err
	}
	ds := make([]*daemon, k+m)
	defer func() {
		for _, d := range ds {
			if d != nil {
				d.stop()
			}
		}
	}()
	var names []string
	for i := range ds {
		name := fmt.Sprintf("m%d", i)
		certs := filepath.Join(h.dir, "certs-"+name)
		if _, err := h.run("pki", "issue", "--role", "site", "--name", name, "--host", "127.0.0.1", "-o", certs); err != nil {
			return err
		}
		ds[i] = &daemon{bin: b.daemon, args: []string{"--store", filepath.Join(h.dir, "store-"+name), "--create",
			"--ca", filepath.Join(certs, "ca.crt"), "--cert", filepath.Join(certs, name+".crt"), "--key", filepath.Join(certs, name+".key")}}
		if err := ds[i].start(); err != nil {
			return err
		}
		if _, err := h.run("site", "add", name, "--member", "--url", "embassy://"+ds[i].addr, "--jurisdiction", []string{"LU", "CH", "FI", "EE", "DE"}[i%5]); err != nil {
			return err
		}
		names = append(names, name)
	}
	if _, err := h.run("site", "add", "rs", "--url", fmt.Sprintf("erasure:%d+%d?members=%s", k, m, strings.Join(names, ",")), "--jurisdiction", "EU"); err != nil {
		return err
	}
	d, err := h.timed("snapshot", "bench", *corpus, "--class", "internal")
	if err != nil {
		return err
	}
	fmt.Printf("erasure %d+%d over %d embassyd daemons: first snapshot %.2f s (%.0f MiB/s)\n", k, m, k+m, d.Seconds(), b.mibps(d))
	// What the members store, to read "GiB sent per GiB restored" against:
	// a restore needs k/(k+m) of it (the data shards), no more.
	var stored int64
	for i := range ds {
		_ = filepath.Walk(filepath.Join(h.dir, fmt.Sprintf("store-m%d", i)), func(_ string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				stored += fi.Size()
			}
			return nil
		})
	}
	fmt.Printf("  the members store %.0f MiB (%.2f GiB per GiB of corpus; data shards %.2f)\n", float64(stored)/(1<<20),
		float64(stored)/float64(b.bytes), float64(stored)/float64(b.bytes)*float64(k)/float64(k+m))
	tc, err := homeTLS(filepath.Join(h.dir, "home", "pki"))
	if err != nil {
		return err
	}
	var healthy, degraded []time.Duration
	var costs [2][]cost // [0] healthy, [1] degraded
	// Each restore gets a folder of its own, all removed at the end: ext4
	// spends a third of a restore's CPU in recently_deleted() under
	// openat when the previous restore's folder was removed just before
	// (see "Round two, third pass").
	var targets []string
	defer func() {
		for _, t := range targets {
			os.RemoveAll(t)
		}
	}()
	for r := range *runs {
		for _, down := range []bool{r%2 == 1, r%2 == 0} { // alternate which goes first
			if down {
				ds[*stopIdx].stop()
			}
			target := filepath.Join(h.dir, fmt.Sprintf("restore-%d-%t", r+1, down))
			targets = append(targets, target)
			state := "all members up"
			if down {
				state = fmt.Sprintf("member m%d stopped", *stopIdx)
			}
			var env []string
			if *cpuProf != "" {
				env = append(env, "EMBASSY_CPUPROFILE="+filepath.Join(*cpuProf, fmt.Sprintf("restore-%d-%s.pprof", r+1, map[bool]string{false: "healthy", true: "degraded"}[down])))
			}
			before := measure(ds, tc)
			d, ccpu, err := h.timedEnv(env, "restore", "bench@latest", "--target", target)
			after := measure(ds, tc)
			if down {
				if serr := ds[*stopIdx].start(); serr != nil && err == nil {
					err = serr
				}
			}
			if err != nil {
				return err
			}
			c := after.minus(before)
			c.client = ccpu
			c.wall = d
			idx := 0
			if down {
				idx = 1
				degraded = append(degraded, d)
			} else {
				healthy = append(healthy, d)
			}
			costs[idx] = append(costs[idx], c)
			gib := float64(b.bytes) / (1 << 30)
			fmt.Printf("  run %d restore, %-18s %7.2f s  %6.0f MiB/s  CPU client %.2f s + daemons %.2f s = %.2f s/GiB, %d GETs (%.0f/GiB), %.0f MiB sent, %d handshakes, load %s\n",
				r+1, state, d.Seconds(), b.mibps(d), ccpu.Seconds(), c.daemons.Seconds(), (ccpu+c.daemons).Seconds()/gib,
				c.gets, float64(c.gets)/gib, float64(c.sent)/(1<<20), c.handshakes, loadavg())
		}
	}
	hm, dm := median(healthy), median(degraded)
	fmt.Printf("erasure %d+%d restore, median of %d: healthy %.2f s (%.0f MiB/s), one member stopped %.2f s (%.0f MiB/s): degraded speed %.0f%% of healthy (target >= 90%%)\n",
		k, m, *runs, hm.Seconds(), b.mibps(hm), dm.Seconds(), b.mibps(dm), 100*hm.Seconds()/dm.Seconds())
	gib := float64(b.bytes) / (1 << 30)
	for i, name := range []string{"healthy", "degraded"} {
		var cl, dm, all []time.Duration
		var gets, sent []float64
		for _, c := range costs[i] {
			cl, dm, all = append(cl, c.client), append(dm, c.daemons), append(all, c.client+c.daemons)
			gets, sent = append(gets, float64(c.gets)), append(sent, float64(c.sent))
		}
		fmt.Printf("  %-8s medians: CPU %.2f s/GiB (client %.2f, daemons %.2f), %.0f GETs/GiB, %.2f GiB sent/GiB restored\n",
			name, median(all).Seconds()/gib, median(cl).Seconds()/gib, median(dm).Seconds()/gib,
			medianF(gets)/gib, medianF(sent)/(1<<30)/gib)
	}
	return nil
}

// cost is what one restore cost the client and the daemons that stayed up.
type cost struct {
	wall, client, daemons  time.Duration
	gets, sent, handshakes int64
}

func (c cost) minus(o cost) cost {
	return cost{daemons: c.daemons - o.daemons, gets: c.gets - o.gets, sent: c.sent - o.sent, handshakes: c.handshakes - o.handshakes}
}

// measure sums the CPU time and the object GETs, bytes sent and TLS
// handshakes (from /metrics) of the running daemons.
func measure(ds []*daemon, tc *tls.Config) cost {
	var c cost
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: 10 * time.Second}
	defer cl.CloseIdleConnections()
	for _, d := range ds {
		if d == nil || d.cmd == nil {
			continue
		}
		c.daemons += procCPU(d.cmd.Process.Pid)
		resp, err := cl.Get("https://" + d.addr + "/metrics")
		if err != nil {
			fmt.Fprintf(os.Stderr, "metrics of %s: %v\n", d.addr, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(body), "\n") {
			name, val, ok := strings.Cut(line, " ")
			if !ok || strings.HasPrefix(line, "#") {
				continue
			}
			f, _ := strconv.ParseFloat(strings.TrimSpace(val), 64)
			switch {
			case strings.HasPrefix(name, "embassy_requests_total{") && strings.Contains(name, `route="get"`):
				c.gets += int64(f)
			case name == "embassy_sent_bytes_total":
				c.sent += int64(f)
			case strings.HasPrefix(name, "embassy_tls_handshakes_total"):
				c.handshakes += int64(f)
			}
		}
	}
	return c
}

// procCPU is a process's user + system time from /proc (clock ticks of 10 ms).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// homeTLS is a client configuration with the home's own certificate.
func homeTLS(dir string) (*tls.Config, error) {
	pair, pool, err := pki.TLSMaterial(pki.Files{CA: filepath.Join(dir, pki.CACertFile), Cert: filepath.Join(dir, "home.crt"), Key: filepath.Join(dir, "home.key")})
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{pair}, RootCAs: pool}, nil
}

func medianF(fs []float64) float64 {
	if len(fs) == 0 {
		return 0
	}
	s := slices.Clone(fs)
	slices.Sort(s)
	return s[len(s)/2]
}

// daemon is an embassyd process on a loopback port that stays the same
// across restarts.
type daemon struct {
	bin  string
	args []string
	addr string
	cmd  *exec.Cmd
}

func (d *daemon) start() error {
	if d.addr == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		d.addr = ln.Addr().String()
		ln.Close()
	}
	d.cmd = exec.Command(d.bin, append([]string{"--listen", d.addr, "--log-level", "warn"}, d.args...)...)
	d.cmd.Stderr = os.Stderr
	if err := d.cmd.Start(); err != nil {
		return err
	}
	for range 100 {
		if c, err := net.Dial("tcp", d.addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.stop()
	return fmt.Errorf("embassyd on %s did not start", d.addr)
}

func (d *daemon) stop() {
	if d.cmd != nil && d.cmd.Process != nil {
		_ = d.cmd.Process.Kill()
		_ = d.cmd.Wait()
	}
	d.cmd = nil
}

// withPrefix appends a path prefix to an s3://host/bucket[/prefix]?query URL.
func withPrefix(u, p string) string {
	base, q, _ := strings.Cut(u, "?")
	u = strings.TrimSuffix(base, "/") + "/" + p
	if q != "" {
		u += "?" + q
	}
	return u
}

// deleteAll removes every object of every kind under an S3 site URL.
func deleteAll(u string) error {
	ctx := context.Background()
	b, err := location.Open(ctx, u, site.Properties{Name: "cleanup"}, location.Options{})
	if err != nil {
		return err
	}
	defer b.Close()
	var errs []error
	for _, k := range site.Kinds {
		var hs []site.Handle
		if err := b.List(ctx, k, func(fi site.Info) error { hs = append(hs, fi.Handle); return nil }); err != nil {
			errs = append(errs, err)
		}
		for _, h := range hs {
			if err := b.Delete(ctx, h); err != nil && !errors.Is(err, site.ErrNotFound) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (b *bench) mibps(d time.Duration) float64 { return float64(b.bytes) / (1 << 20) / d.Seconds() }

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
