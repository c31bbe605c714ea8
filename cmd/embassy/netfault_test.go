package main

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/netlab"
)

// TestDaemonLatency reaches the daemon through a delay proxy on loopback
// (netem is not always in the kernel): a snapshot and a restore over a
// slow round trip still complete and restore byte-exact.
func TestDaemonLatency(t *testing.T) {
	t.Parallel() // waits on disks, daemons and links more than on CPU
	f := newFixture(t)
	f.run("pki", "init")
	lu := f.issueSite("lu", "127.0.0.1")
	lu.start()
	px := &netlab.Proxy{Upstream: lu.addr, Delay: 25 * time.Millisecond}
	if err := px.Start(); err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	f.run("site", "remove", "b")
	f.run("site", "add", "lu", "--url", "embassy://"+px.Addr(), "--jurisdiction", "LU")
	src := filepath.Join(f.dir, "src")
	writeNoise(t, filepath.Join(src, "a.bin"), 6<<20, 3)
	digest := treeDigest(t, src)
	f.run("snapshot", "ds", src, "--class", "internal")
	f.run("site", "remove", "a")
	f.run("verify", "--read-data")
	f.restoreSame("ds@latest", digest)
}

// TestNetworkFaults runs a daemon in a network namespace behind a veth
// pair and reaches it from the root namespace while the link is slow,
// lossy or cut. Root and EMBASSY_TEST_NETNS=1 only.
func TestNetworkFaults(t *testing.T) {
	// Not parallel: under 20% packet loss on a loaded machine the client's
	// connect (no retry) to the daemon failed once (docs/threats/ci.md).
	netlab.Require(t)
	ns := netlab.NewNS(t)
	f := newFixture(t) // sites a and b: local directories
	f.run("pki", "init")
	lu := f.issueSite("lu", ns.IP)
	lu.addr = ns.IP + ":7443"
	lu.wrap = []string{"ip", "netns", "exec", ns.Name}
	lu.start()
	f.run("site", "add", "lu", "--url", "embassy://"+lu.addr, "--jurisdiction", "LU")
	f.run("site", "remove", "b")
	src := filepath.Join(f.dir, "src")
	round := 0
	change := func(mib int) string {
		round++
		writeNoise(t, filepath.Join(src, fmt.Sprintf("r%d.bin", round)), mib<<20, uint64(100+round))
		return treeDigest(t, src)
	}

	t.Run("bandwidth", func(t *testing.T) {
		f := f.with(t)
		ns.Bandwidth(t, "40mbit") // 5 MB/s each way
		change(8)
		f.run("snapshot", "ds", src, "--class", "internal")
	})

	t.Run("partition during a snapshot", func(t *testing.T) {
		f := f.with(t)
		digest := change(24) // ~5 s at 40 mbit: still in flight when cut
		before := lu.packs()
		c := f.cmd("snapshot", "ds", src, "--class", "internal")
		var out, errb bytes.Buffer
		c.Stdout, c.Stderr = &out, &errb
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		deadline := time.After(3 * time.Minute)
		for lu.packs() == before {
			select {
			case err := <-done:
				t.Fatalf("the snapshot ended before the cut: %v\n%s", err, errb.String())
			case <-deadline:
				c.Process.Kill()
				t.Fatalf("the daemon got no pack in 3 minutes:\n%s", errb.String())
			case <-time.After(20 * time.Millisecond):
			}
		}
		ns.Partition(t, true)
		var err error
		select {
		case err = <-done:
		case <-time.After(5 * time.Minute):
			c.Process.Kill()
			t.Fatalf("the snapshot hangs on a partitioned site:\n%s", errb.String())
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 || !namesSite(errb.String(), "lu") {
			t.Fatalf("snapshot across a partition: %v, want exit 3 naming site lu\n%s%s", err, out.String(), errb.String())
		}
		// Site a kept working: the snapshot restores from it.
		f.restoreSame("ds@latest", digest)
		ns.Partition(t, false)
		f.run("site", "sync")
		f.run("verify", "--read-data")
	})

	t.Run("packet loss", func(t *testing.T) {
		f := f.with(t)
		ns.Loss(t, 20)
		defer ns.Loss(t, 0)
		digest := change(4)
		f.run("snapshot", "ds", src, "--class", "internal")
		f.run("site", "remove", "a") // read from the daemon only
		f.run("verify", "--read-data")
		f.restoreSame("ds@latest", digest)
	})
	if t.Failed() {
		t.Logf("embassyd log:\n%s", lu.logs())
	}
}
