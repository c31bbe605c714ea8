package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/netlab"
)

// The daemon tests run the real embassy and embassyd binaries: a host site
// over mutual TLS on loopback, certificates from the wrong CA, and a
// daemon killed with SIGKILL in the middle of a snapshot.

var (
	daemonOnce sync.Once
	daemonBin  string
	daemonErr  error
)

// embassyd builds cmd/embassyd next to the embassy binary, once.
func embassyd(t *testing.T) string {
	t.Helper()
	daemonOnce.Do(func() {
		daemonBin = filepath.Join(filepath.Dir(bin), "embassyd")
		out, err := exec.Command("go", "build", "-o", daemonBin, "../embassyd").CombinedOutput()
		if err != nil {
			daemonErr = fmt.Errorf("build embassyd: %v\n%s", err, out)
		}
	})
	if daemonErr != nil {
		t.Fatal(daemonErr)
	}
	return daemonBin
}

// hostSite is an embassyd process with its certificates and store.
type hostSite struct {
	t       *testing.T
	name    string
	certs   string // DIR with ca.crt, NAME.crt, NAME.key
	store   string
	addr    string   // where it listens
	wrap    []string // command prefix, e.g. ip netns exec NS
	cmd     *exec.Cmd
	log     bytes.Buffer
	logLock sync.Mutex
}

// issueSite issues a site certificate for name at f's home.
func (f *fixture) issueSite(name, host string) *hostSite {
	f.t.Helper()
	s := &hostSite{t: f.t, name: name, certs: filepath.Join(f.dir, "certs-"+name), store: filepath.Join(f.dir, "store-"+name)}
	f.run("pki", "issue", "--role", "site", "--name", name, "--host", host, "-o", s.certs)
	return s
}

// listening matches the daemon's start-up log line with the address its
// listener got (--listen 127.0.0.1:0 picks a free port with no race).
var listening = regexp.MustCompile(`msg="embassy daemon" .*\baddr=(\S+)`)

// namesSite reports whether a command's stderr names site name as a word
// ("site lu failed ..."), not as two letters inside another word.
func namesSite(stderr, name string) bool {
	return regexp.MustCompile(`\bsite "?` + regexp.QuoteMeta(name) + `"?\b`).MatchString(stderr)
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// start runs the daemon on s.addr and waits until it accepts connections.
// The first time, with no s.addr, the daemon binds 127.0.0.1:0 itself and
// the test reads the port from its log: no port is freed and reused.
func (s *hostSite) start() {
	s.t.Helper()
	listen := s.addr
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	args := append(append([]string{}, s.wrap...), embassyd(s.t), "--listen", listen, "--store", s.store, "--create",
		"--ca", filepath.Join(s.certs, "ca.crt"), "--cert", filepath.Join(s.certs, s.name+".crt"), "--key", filepath.Join(s.certs, s.name+".key"))
	s.cmd = exec.Command(args[0], args[1:]...)
	s.cmd.Stderr = lockedWriter{&s.logLock, &s.log}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	cmd := s.cmd
	s.t.Cleanup(func() { netlab.Kill(cmd, 5*time.Second) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if s.addr == "" {
		for s.addr == "" {
			if m := listening.FindStringSubmatch(s.logs()); m != nil {
				s.addr = m[1]
				break
			}
			select {
			case <-ctx.Done():
				s.t.Fatalf("embassyd %s logged no listening address: %v\n%s", s.name, ctx.Err(), s.logs())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	if err := netlab.WaitDial(ctx, s.addr); err != nil {
		s.t.Fatalf("embassyd %s did not start: %v\n%s", s.name, err, s.logs())
	}
}

// kill9 ends the daemon with SIGKILL.
func (s *hostSite) kill9() {
	s.t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd.Wait()
}

func (s *hostSite) logs() string {
	s.logLock.Lock()
	defer s.logLock.Unlock()
	return s.log.String()
}

// packs counts the pack objects in the daemon's fs store.
func (s *hostSite) packs() int {
	n := 0
	filepath.WalkDir(filepath.Join(s.store), func(p string, d os.DirEntry, err error) error {
		// substring: a path filter over the store, not output
		if err == nil && d.Type().IsRegular() && strings.Contains(filepath.ToSlash(p), "/data/") && !strings.HasPrefix(d.Name(), ".") {
			n++
		}
		return nil
	})
	return n
}

// result runs embassy and returns stdout, stderr and the exit code.
func (f *fixture) result(args ...string) (string, string, int) {
	f.t.Helper()
	var out, errb bytes.Buffer
	c := f.cmd(args...)
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errb.String(), 0
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	default:
		f.t.Fatalf("embassy %v: %v", args, err)
		return "", "", -1
	}
}

// writeRandom writes n pseudo-random bytes (incompressible) to p.
func writeNoise(t *testing.T, p string, n int, seed uint64) {
	t.Helper()
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// restoreSame restores ref and checks it is byte-exact with digest.
func (f *fixture) restoreSame(ref, digest string, extra ...string) {
	f.t.Helper()
	target := filepath.Join(f.dir, fmt.Sprintf("restore-%d", rand.N(1<<30)))
	f.runDegraded(append([]string{"restore", ref, "--target", target}, extra...)...)
	if got := treeDigest(f.t, target); got != digest {
		f.t.Fatalf("restore of %s differs from the source", ref)
	}
	os.RemoveAll(target)
}

func TestDaemonEndToEnd(t *testing.T) {
	t.Parallel()       // waits on disks, daemons and links more than on CPU
	f := newFixture(t) // sites a and b: local directories
	f.run("pki", "init")
	lu := f.issueSite("lu", "127.0.0.1")
	lu.start()
	f.run("site", "add", "lu", "--url", "embassy://"+lu.addr, "--jurisdiction", "LU")

	src := filepath.Join(f.dir, "src")
	writeNoise(t, filepath.Join(src, "registry.bin"), 3<<20, 1)
	os.WriteFile(filepath.Join(src, "readme.txt"), []byte("population register\n"), 0o644)
	digest := treeDigest(t, src)
	var snap struct {
		ID    string   `json:"id"`
		Sites []string `json:"sites"`
	}
	if err := json.Unmarshal([]byte(f.run("--json", "snapshot", "ds", src, "--class", "internal")), &snap); err != nil || snap.ID == "" {
		t.Fatalf("snapshot --json: %v", err)
	}
	if !slices.Contains(snap.Sites, "lu") {
		t.Errorf("the snapshot was not written to the daemon site: sites %q", snap.Sites)
	}
	if lu.packs() == 0 {
		t.Fatalf("the daemon's store holds no packs after the snapshot")
	}
	f.run("verify", "--read-data")
	// Restore from the daemon alone: the local sites are left out.
	f.run("site", "remove", "a")
	f.run("site", "remove", "b")
	f.restoreSame("ds@latest", digest)
}

func TestDaemonWrongCA(t *testing.T) {
	t.Parallel() // waits on disks, daemons and links more than on CPU
	f := newFixture(t)
	f.run("pki", "init")
	other := &fixture{t: t, dir: filepath.Join(f.dir, "other")}
	other.home = filepath.Join(other.dir, "home")
	os.MkdirAll(other.dir, 0o755)
	r := strings.TrimSpace(other.run("custodian", "keygen", "-o", filepath.Join(other.dir, "c.key")))
	other.run("init", "--threshold", "1", "--custodian", r)
	other.run("pki", "init")

	t.Run("daemon certificate from another CA", func(t *testing.T) {
		ch := other.issueSite("ch", "127.0.0.1")
		ch.t = t
		ch.start()
		wantRun(t, "site add of a daemon whose certificate another CA issued", f.try("site", "add", "ch", "--url", "embassy://"+ch.addr, "--jurisdiction", "CH").masked(ch.addr, "ADDR", f.dir, "DIR"), 1, nil, lines{
			"embassy: error: site ch: daemon ADDR presents a certificate that the CA DIR/home/pki/ca.crt did not issue",
			"embassy: hint: have its operator install a site certificate from the home ('embassy pki issue --role site --name ch --host HOST -o DIR'); or, if it rightly has one from another CA, get that CA's certificate from the operator out of band and pin it in the URL with ?ca=FILE&cert=FILE&key=FILE",
		})
		wantLines(t, "site list", masked(f.run("site", "list"), f.dir, "DIR"), twoSitesList) // ch was not registered
	})
	t.Run("client certificate from another CA", func(t *testing.T) {
		lu := f.issueSite("lu", "127.0.0.1")
		lu.t = t
		lu.start()
		// The other home trusts lu's CA but presents its own certificate.
		pkiOther := filepath.Join(other.home, "pki")
		url := fmt.Sprintf("embassy://%s?ca=%s&cert=%s&key=%s", lu.addr, filepath.Join(lu.certs, "ca.crt"),
			filepath.Join(pkiOther, "home.crt"), filepath.Join(pkiOther, "home.key"))
		wantRun(t, "site add with a client certificate from another CA", other.try("site", "add", "lu", "--url", url, "--jurisdiction", "LU").masked(lu.addr, "ADDR", f.dir, "DIR"), 1, nil, lines{
			"embassy: error: site lu: client certificate DIR/other/home/pki/home.crt was not issued by the CA DIR/certs-lu/ca.crt, so the daemon would refuse it: x509: certificate signed by unknown authority",
			"embassy: hint: check the URL and that the storage is reachable",
		})
		if lu.packs() != 0 {
			t.Errorf("the refused client wrote to the daemon's store")
		}
	})
}

func TestDaemonKilledMidSnapshot(t *testing.T) {
	t.Parallel() // waits on disks, daemons and links more than on CPU
	f := newFixture(t)
	f.run("pki", "init")
	lu := f.issueSite("lu", "127.0.0.1")
	lu.start()
	// A slow link keeps the snapshot in flight long enough to kill the
	// daemon in the middle of it, whatever the machine's speed.
	px := &netlab.Proxy{Upstream: lu.addr, Rate: 24 << 20}
	if err := px.Start(); err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	f.run("site", "add", "lu", "--url", "embassy://"+px.Addr(), "--jurisdiction", "LU")

	src := filepath.Join(f.dir, "src")
	writeNoise(t, filepath.Join(src, "small.bin"), 1<<20, 1)
	d1 := treeDigest(t, src)
	var first snapInfo
	if err := json.Unmarshal([]byte(f.run("--json", "snapshot", "ds", src, "--class", "internal")), &first); err != nil || first.ID == "" {
		t.Fatalf("snapshot --json: %v", err)
	}
	before := lu.packs()

	for i := range 6 {
		writeNoise(t, filepath.Join(src, fmt.Sprintf("big/%d.bin", i)), 8<<20, uint64(10+i))
	}
	d2 := treeDigest(t, src)
	c := f.cmd("--json", "snapshot", "ds", src, "--class", "internal")
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	deadline := time.After(2 * time.Minute)
wait:
	for lu.packs() == before {
		select {
		case err := <-done:
			t.Fatalf("the snapshot ended before the daemon got a pack: %v\n%s", err, errb.String())
		case <-deadline:
			t.Fatal("the daemon got no pack in 2 minutes")
		case <-time.After(5 * time.Millisecond):
			continue wait
		}
	}
	lu.kill9()
	var err error
	select {
	case err = <-done:
	case <-time.After(3 * time.Minute):
		c.Process.Kill()
		t.Fatalf("the snapshot did not end after the daemon was killed:\n%s", errb.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("snapshot with the daemon killed: %v, want exit code 3 (sites a and b took it)\n%s%s", err, out.String(), errb.String())
	}
	if !namesSite(errb.String(), "lu") {
		t.Errorf("the snapshot does not report that site lu failed:\n%s", errb.String())
	}
	t.Logf("snapshot with lu killed: exit 3\n%s", errb.String())

	// Nothing committed is lost: both snapshots restore byte-exact.
	snaps := f.runDegraded("--json", "snapshots", "ds")
	if strings.Count(snaps, `"id"`) != 2 {
		t.Fatalf("want 2 snapshots, got:\n%s", snaps)
	}
	f.restoreSame("ds@latest", d2)
	f.restoreSame("ds@"+first.ID, d1)

	// Restart the daemon over the same store: sync catches up, all verify.
	lu.start()
	var sync struct {
		Copied int64 `json:"copied_objects"`
		Lag    []struct {
			Site    string `json:"site"`
			Objects int64  `json:"objects"`
		} `json:"lag"`
	}
	if err := json.Unmarshal([]byte(f.run("--json", "site", "sync")), &sync); err != nil {
		t.Fatalf("site sync --json: %v", err)
	}
	if sync.Copied == 0 {
		t.Error("site sync copied nothing to the restarted daemon, which missed the second snapshot's packs")
	}
	sync.Lag = nil
	if err := json.Unmarshal([]byte(f.run("--json", "site", "sync", "--dry-run")), &sync); err != nil {
		t.Fatalf("site sync --dry-run --json: %v", err)
	}
	for _, l := range sync.Lag {
		if l.Objects != 0 {
			t.Errorf("after the catch-up site %s still misses %d objects", l.Site, l.Objects)
		}
	}
	f.run("verify", "--read-data")
	f.run("site", "remove", "a")
	f.run("site", "remove", "b")
	f.restoreSame("ds@latest", d2)
}

// runDegraded runs embassy and accepts exit code 3 (a site was unavailable
// but the command did its work with the others).
func (f *fixture) runDegraded(args ...string) string {
	f.t.Helper()
	out, stderr, code := f.result(args...)
	if code != 0 && code != 3 {
		f.t.Fatalf("embassy %v: exit %d\n%s%s", args, code, out, stderr)
	}
	return out
}
