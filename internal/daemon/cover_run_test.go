package daemon

import (
	"context"
	"crypto/rand"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/digital-embassy/embassy/internal/approval"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/site/remote"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// TestCoverRunRefuses: what Run refuses, before serving or while starting
// the listeners next to the daemon, each with its exact error, its hint
// (the way out) and whether it is a usage error; when a side listener
// fails, the daemon's own port is released.
func TestCoverRunRefuses(t *testing.T) {
	id := newIdentities(t)
	dir := t.TempDir()
	_, vkey, err := note.GenerateKey(rand.Reader, "example.invalid/log")
	if err != nil {
		t.Fatal(err)
	}
	noKey := filepath.Join(dir, "no-access-key")
	badKey := writeFile(t, filepath.Join(dir, "bad-access-key"), "not a key\n")
	noCap := filepath.Join(dir, "no-capacity.yaml")
	badCap := writeFile(t, filepath.Join(dir, "bad-capacity.yaml"), "gpu-source: magic\n")
	badCRL := writeFile(t, filepath.Join(dir, "crl.pem"), "not a CRL\n")
	badAccess := writeFile(t, filepath.Join(dir, "access.jsonl"), "{not json\n")
	fileNotDir := writeFile(t, filepath.Join(dir, "a-file"), "x")
	for _, tc := range []struct {
		name     string
		edit     func(o *Options)
		want     string
		hint     string
		usage    bool
		released bool // the daemon bound its port first: it must be free again
	}{
		{name: "access key file missing", edit: func(o *Options) { o.AccessKey = noKey },
			want: "--access-key " + noKey + ": neither a verifier key (malformed verifier id) nor a readable file (no such file or directory)", hint: "give the key line 'embassy access key' prints, or a file holding it", usage: true},
		{name: "access key file not a key", edit: func(o *Options) { o.AccessKey = badKey },
			want: "--access-key file " + badKey + " does not hold a verifier key: malformed verifier id", hint: "give the key line 'embassy access key' prints, or a file holding it", usage: true},
		{name: "capacity file missing", edit: func(o *Options) { o.Capacity = noCap },
			want: "--capacity: open " + noCap + ": no such file or directory", usage: true},
		{name: "capacity file invalid", edit: func(o *Options) { o.Capacity = badCap },
			want: "--capacity " + badCap + `: capacity file: gpu-source "magic": use nvml, recorded or none`, hint: "see docs/COMPUTE.md for the capacity file's fields", usage: true},
		{name: "CRL file not a CRL", edit: func(o *Options) { o.CRL = badCRL },
			want: "revocation list: " + badCRL + ": CRL: x509: malformed crl"},
		{name: "access file damaged", edit: func(o *Options) { o.AccessFile = badAccess },
			want: "access file: " + badAccess + ": invalid character 'n' looking for beginning of object key string"},
		{name: "witness dir is a file", edit: func(o *Options) {
			o.WitnessListen, o.WitnessDir, o.WitnessLogs, o.WitnessPlainHTTP = "127.0.0.1:0", fileNotDir, []string{vkey}, true
		}, want: "witness key: open " + filepath.Join(fileNotDir, "ed25519.key") + ": not a directory", released: true},
		{name: "witness address invalid", edit: func(o *Options) {
			o.WitnessListen, o.WitnessDir, o.WitnessLogs, o.WitnessPlainHTTP = "127.0.0.1:-1", t.TempDir(), []string{vkey}, true
		}, want: "witness: listen tcp: address -1: invalid port", released: true},
		{name: "witness over TLS, address invalid", edit: func(o *Options) {
			o.WitnessListen, o.WitnessDir, o.WitnessLogs = "127.0.0.1:-1", t.TempDir(), []string{vkey}
		}, want: "witness: listen tcp: address -1: invalid port", released: true},
		{name: "dashboard address invalid", edit: func(o *Options) { o.UIListen = "127.0.0.1:-1" },
			want: "--ui-listen: listen tcp: address -1: invalid port", released: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := id.options(filepath.Join(t.TempDir(), "store"))
			tc.edit(&o)
			lg := newRecLog()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := Run(ctx, o, slog.New(lg))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v\nwant        %s", err, tc.want)
			}
			if got := hint.Of(err); got != tc.hint {
				t.Errorf("hint %q, want %q", got, tc.hint)
			}
			if (hint.CodeOf(err) == hint.CodeUsage) != tc.usage {
				t.Errorf("usage code %v, want %v", hint.CodeOf(err) == hint.CodeUsage, tc.usage)
			}
			started := lg.find("embassy daemon")
			if !tc.released {
				if len(started) != 0 {
					t.Fatalf("the daemon started listening before refusing: %v", started)
				}
				return
			}
			if len(started) != 1 {
				t.Fatalf("%d \"embassy daemon\" records, want 1", len(started))
			}
			if c, err := net.Dial("tcp", started[0].attrs["addr"]); err == nil {
				c.Close()
				t.Fatalf("the daemon's port %s still accepts after Run refused", started[0].attrs["addr"])
			}
		})
	}
}

// TestCoverRunAccessKeyFile: --access-key names a file holding the key
// line (with its newline), its path holding '+'; the daemon verifies the home's decisions with
// that key: one it signed approves a request, one signed by another key
// under the same name is refused (403) and recorded.
func TestCoverRunAccessKeyFile(t *testing.T) {
	id := newIdentities(t)
	skey, vkey, err := note.GenerateKey(rand.Reader, id.home+"/access")
	if err != nil {
		t.Fatal(err)
	}
	forgedKey, _, err := note.GenerateKey(rand.Reader, id.home+"/access")
	if err != nil {
		t.Fatal(err)
	}
	o := id.options(filepath.Join(t.TempDir(), "store"))
	// A '+' in the path, as in keys: the file is still read as a file.
	o.AccessKey = writeFile(t, filepath.Join(t.TempDir(), "home+lu.decision.key.pub"), vkey+"\n")
	d := startDaemon(t, o)
	ctx := t.Context()
	opsFiles, _ := id.issue(t, pki.RoleOperator, "ops")
	ops, err := remote.New(ctx, remote.Config{Host: d.addr, Files: opsFiles, ExpectSite: "lu"})
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Close()
	homeFiles, _ := id.issue(t, pki.RoleHome, "home2")
	home, err := remote.New(ctx, remote.Config{Host: d.addr, Files: homeFiles, ExpectSite: "lu"})
	if err != nil {
		t.Fatal(err)
	}
	defer home.Close()

	sign := func(t *testing.T, key string, req approval.HostRequest) []byte {
		t.Helper()
		s, err := note.NewSigner(key)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := approval.Decision{Home: id.home, Site: "lu", Request: req.ID, Requester: req.Requester, Scope: req.Scope,
			Approved: true, Expires: req.Filed.Add(30 * time.Minute)}.Sign(s)
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	filing := approval.Filing{Reason: tlog.ReasonHostService, Scope: "metadata", Duration: "1h", Who: "A. Operator", What: "storage migration"}
	forgedReq, err := ops.RequestAccess(ctx, filing)
	if err != nil {
		t.Fatal(err)
	}
	_, err = home.PushDecision(ctx, forgedReq.ID, sign(t, forgedKey, forgedReq))
	if err == nil || !strings.Contains(err.Error(), "daemon: decision refused: access decision not signed by the home's access key: ") || !strings.HasSuffix(err.Error(), " (403)") {
		t.Fatalf("decision signed by another key: %v, want 403 decision refused", err)
	}
	req, err := ops.RequestAccess(ctx, filing)
	if err != nil {
		t.Fatal(err)
	}
	got, err := home.PushDecision(ctx, req.ID, sign(t, skey, req))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != req.ID || got.Status != approval.Approved || !got.Expires.Equal(req.Filed.Add(30*time.Minute).Truncate(time.Second)) {
		t.Fatalf("after the home's decision: %+v", got)
	}
	reqs, err := ops.AccessRequests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, r := range reqs {
		status[r.ID] = r.Status
	}
	if want := map[string]string{forgedReq.ID: approval.Pending, req.ID: approval.Approved}; !maps.Equal(status, want) {
		t.Fatalf("requests %v, want %v", status, want)
	}
	ops.Close()
	home.Close()
	d.stop()
}

// TestCoverRunStopsSideListeners: when Run fails after starting the
// witness (here: the dashboard's address is taken), or returns after its
// context ends, the witness it started is no longer listening: nothing
// keeps serving behind a daemon that reported it stopped.
func TestCoverRunStopsSideListeners(t *testing.T) {
	id := newIdentities(t)
	_, vkey, err := note.GenerateKey(rand.Reader, "example.invalid/log")
	if err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	o := id.options(filepath.Join(t.TempDir(), "store"))
	o.WitnessListen, o.WitnessDir, o.WitnessLogs, o.WitnessPlainHTTP = "127.0.0.1:0", t.TempDir(), []string{vkey}, true
	o.UIListen = taken.Addr().String()
	lg := newRecLog()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // only after the checks: Run must not rely on it
	err = Run(ctx, o, slog.New(lg))
	if want := "--ui-listen: listen tcp " + o.UIListen + ": bind: address already in use"; err == nil || err.Error() != want {
		t.Fatalf("error %v, want %q", err, want)
	}
	w := lg.find("witness")
	if len(w) != 1 {
		t.Fatalf("%d witness records, want 1", len(w))
	}
	if c, err := net.Dial("tcp", w[0].attrs["addr"]); err == nil {
		c.Close()
		t.Fatalf("the witness at %s still accepts after Run failed", w[0].attrs["addr"])
	}

	// A clean stop: once Run has returned, the witness is gone too.
	o.UIListen = ""
	d := startDaemon(t, o, "witness")
	d.stop()
	if c, err := net.Dial("tcp", d.addrs["witness"]); err == nil {
		c.Close()
		t.Fatalf("the witness at %s still accepts after Run returned", d.addrs["witness"])
	}
}
