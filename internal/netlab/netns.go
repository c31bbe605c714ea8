package netlab

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Enabled reports whether namespace tests may run: as root, with
// EMBASSY_TEST_NETNS=1 and the ip tool present.
func Enabled() (bool, string) {
	if os.Getenv("EMBASSY_TEST_NETNS") != "1" {
		return false, "set EMBASSY_TEST_NETNS=1 (as root) to run network namespace tests"
	}
	if os.Geteuid() != 0 {
		return false, "network namespace tests need root"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return false, "network namespace tests need iproute2 (ip)"
	}
	return true, ""
}

// Require skips t unless namespace tests are enabled.
func Require(t testing.TB) {
	t.Helper()
	if ok, why := Enabled(); !ok {
		t.Skip(why)
	}
}

// NS is a network namespace joined to the root namespace by a veth pair:
// HostIP is the root end, IP the end inside the namespace. Its name and
// /30 subnet are random, so parallel tests do not collide. Its methods
// take the t of the (sub)test that calls them, so a failure or skip lands
// on that test, never on the parent that created the namespace.
type NS struct {
	Name     string
	HostDev  string // veth end in the root namespace
	Dev      string // veth end in the namespace
	HostIP   string
	IP       string
	nftReady bool
}

// NewNS creates a namespace and its veth pair; t.Cleanup deletes both,
// also when the test fails.
func NewNS(t testing.TB) *NS {
	t.Helper()
	id := rand.N(1 << 20)
	n := &NS{
		Name:    fmt.Sprintf("emb-lab-%05x", id),
		HostDev: fmt.Sprintf("el%05xh", id),
		Dev:     fmt.Sprintf("el%05xn", id),
	}
	// 10.251.0.0/16 cut into /30s: .1 in the root namespace, .2 inside.
	blk := rand.N(1 << 14)
	base := blk * 4
	n.HostIP = fmt.Sprintf("10.251.%d.%d", base>>8, base&0xff+1)
	n.IP = fmt.Sprintf("10.251.%d.%d", base>>8, base&0xff+2)
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", n.Name).Run()
		_ = exec.Command("ip", "link", "del", n.HostDev).Run() // gone with the namespace; belt and braces
	})
	must(t, "ip", "netns", "add", n.Name)
	must(t, "ip", "link", "add", n.HostDev, "type", "veth", "peer", "name", n.Dev)
	must(t, "ip", "link", "set", n.Dev, "netns", n.Name)
	must(t, "ip", "addr", "add", n.HostIP+"/30", "dev", n.HostDev)
	must(t, "ip", "link", "set", n.HostDev, "up")
	must(t, "ip", "-n", n.Name, "addr", "add", n.IP+"/30", "dev", n.Dev)
	must(t, "ip", "-n", n.Name, "link", "set", "lo", "up")
	must(t, "ip", "-n", n.Name, "link", "set", n.Dev, "up")
	return n
}

func must(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Command returns a command that runs inside the namespace.
func (n *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

// Bandwidth limits traffic from the root namespace into this one (uploads)
// and back (downloads) to rate (tc syntax, e.g. "16mbit") with tbf.
func (n *NS) Bandwidth(t testing.TB, rate string) {
	t.Helper()
	must(t, "tc", "qdisc", "replace", "dev", n.HostDev, "root", "tbf", "rate", rate, "burst", "64kbit", "latency", "400ms")
	must(t, "ip", "netns", "exec", n.Name, "tc", "qdisc", "replace", "dev", n.Dev, "root", "tbf", "rate", rate, "burst", "64kbit", "latency", "400ms")
}

// nft runs nft inside the namespace, creating the lab table on first use:
// an input and an output chain, so the root namespace is never touched.
func (n *NS) nft(t testing.TB, rules ...string) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft not installed (apt-get install -y --no-install-recommends nftables)")
	}
	if !n.nftReady {
		must(t, "ip", "netns", "exec", n.Name, "nft", "add table inet lab; "+
			"add chain inet lab in { type filter hook input priority 0; policy accept; }; "+
			"add chain inet lab out { type filter hook output priority 0; policy accept; }")
		n.nftReady = true
	}
	must(t, "ip", "netns", "exec", n.Name, "nft", strings.Join(rules, "; "))
}

// Loss drops pct percent of the TCP packets entering and leaving the
// namespace at random; 0 removes the loss.
func (n *NS) Loss(t testing.TB, pct int) {
	t.Helper()
	n.nft(t, "flush chain inet lab in", "flush chain inet lab out")
	if pct > 0 {
		n.nft(t, fmt.Sprintf("add rule inet lab in meta l4proto tcp numgen random mod 100 < %d drop", pct),
			fmt.Sprintf("add rule inet lab out meta l4proto tcp numgen random mod 100 < %d drop", pct))
	}
}

// Partition drops every packet in and out of the namespace (on), or heals
// it (off).
func (n *NS) Partition(t testing.TB, on bool) {
	t.Helper()
	n.nft(t, "flush chain inet lab in", "flush chain inet lab out")
	if on {
		n.nft(t, "add rule inet lab in drop", "add rule inet lab out drop")
	}
}

// Kill ends cmd's process group after a grace period; for cleanups.
func Kill(cmd *exec.Cmd, grace time.Duration) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}
