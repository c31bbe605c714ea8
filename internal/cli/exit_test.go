package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/server"
	"github.com/digital-embassy/embassy/internal/site/fs"
	"github.com/digital-embassy/embassy/internal/vault"
)

// countFiles counts regular files under dir.
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() && !strings.HasPrefix(fi.Name(), ".") {
			n++
		}
		return nil
	})
	return n
}

func exitSource(t *testing.T, dir string) string {
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "docs"), 0o755)
	os.WriteFile(filepath.Join(src, "register.csv"), bytes.Repeat([]byte("38501012231,Mari,Tamm,Tallinn\n"), 5000), 0o644)
	os.WriteFile(filepath.Join(src, "docs", "scan.bin"), bytes.Repeat([]byte{7, 1, 9}, 30000), 0o644)
	return src
}

func TestExitFSSite(t *testing.T) {
	t.Parallel() // own temp home and sites, no fixed ports, no environment changes
	dir, home, _ := setup(t)
	src := exitSource(t, dir)
	mustRun(t, home, "snapshot", "registry", src, "--class", "internal")
	mustRun(t, home, "snapshot", "land", src, "--class", "internal")
	archive := filepath.Join(dir, "lu.tar")
	out := mustRun(t, home, "--json", "exit", "lu", "--archive", archive)
	var rep vault.ExitReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Objects == 0 || rep.Deleted != rep.Objects || rep.Restore == nil || !rep.Restore.ReadData || rep.Restore.Snapshots != 2 || rep.Signer != "home" || rep.Remaining != 0 {
		t.Fatalf("report: %+v %+v", rep, rep.Restore)
	}
	if n := countFiles(t, filepath.Join(dir, "site-lu")); n != 0 {
		t.Fatalf("%d files left at the site", n)
	}
	expectRun(t, home, ExitOK, []string{"site", "list"}, lines{
		rx(`NAME  JURISDICTION  OPERATOR  DISTANCE  URL +STATUS`), // the URL column is as wide as the temp path
		rx(`ch    CH                      -         file://` + regexp.QuoteMeta(filepath.Join(dir, "site-ch")) + ` +ok`),
	}, nil)
	q := regexp.QuoteMeta
	archived := rx(q("archive "+archive+": 21 objects, ") + `[0-9.]+ KiB` + q(", of site lu (home ") + `h[0-9a-f]{20}` + q("), manifest signed by the home"))
	homeCert := rx(`deletion certificate: lu at [0-9T:-]+Z: nothing remained; the home's own attestation, not a host-signed certificate`)
	expectRun(t, home, ExitOK, []string{"exit", "verify", archive}, lines{
		archived,
		"restores: 2 datasets, 2 snapshots, 4 packs verified with all data in a fresh site",
		homeCert,
	}, nil)
	// The remaining site still restores.
	mustRun(t, home, "restore", "registry", "--target", filepath.Join(dir, "r1"))
	if n, err := compareTrees(src, filepath.Join(dir, "r1")); err != nil || n != 2 {
		t.Fatalf("restore from remaining site: %d %v", n, err)
	}
	// Without a home: structure and signatures only.
	expectRun(t, filepath.Join(dir, "nohome"), ExitOK, []string{"exit", "verify", archive}, lines{
		archived,
		"no home: archive, manifest signature and key chain checked; data not decrypted",
		homeCert,
	}, nil)
	// The exit is in the log: begun, then done with the manifest's digest.
	logTime := `[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}`
	expectRun(t, home, ExitOK, []string{"log", "--kind", "exit"}, lines{
		"INDEX  TIME                 KIND  ACTOR  SITE  DATASET  OBJECT            REASON",
		rx(`6      ` + logTime + `  exit  home   lu    -        -                 -`),
		rx(`7      ` + logTime + `  exit  home   lu    -        ` + rep.Manifest[:16] + `  -`),
		"2 of 11 entries; checkpoint 11 cosigned by the witness quorum",
	}, nil)

	t.Run("tampered archive", func(t *testing.T) {
		b, _ := os.ReadFile(archive)
		tr := tar.NewReader(bytes.NewReader(b))
		i := -1
		for {
			hdr, err := tr.Next()
			if err != nil {
				t.Fatal("no pack in archive")
			}
			if strings.HasPrefix(hdr.Name, "data/") {
				content, _ := io.ReadAll(tr)
				i = bytes.Index(b, content[:64])
				break
			}
		}
		bad := bytes.Clone(b)
		bad[i+10] ^= 1 // inside the first pack's content
		p := filepath.Join(t.TempDir(), "bad.tar")
		os.WriteFile(p, bad, 0o644)
		expectRun(t, home, ExitDamaged, []string{"exit", "verify", p}, nil, lines{
			rx(regexp.QuoteMeta("embassy: error: "+p+": archive does not match its manifest: ") + `data/[0-9a-f]{32}/[0-9a-f]{2}/[0-9a-f]{64}: content differs from the manifest`),
			"embassy: hint: the archive is damaged or was altered; do not rely on it",
		})
	})
	t.Run("tampered certificate", func(t *testing.T) {
		var c map[string]json.RawMessage
		raw, _ := os.ReadFile(archive + ".certificate.json")
		json.Unmarshal(raw, &c)
		c["body"] = json.RawMessage(strings.Replace(string(c["body"]), `"site":"lu"`, `"site":"ch"`, 1))
		p := filepath.Join(t.TempDir(), "cert.json")
		vault.WriteJSONFile(p, c)
		expectRun(t, home, ExitDamaged, []string{"exit", "verify", archive, "--certificate", p}, nil, lines{
			"embassy: error: " + p + ": attestation: signature does not verify",
			"embassy: hint: the deletion certificate does not prove the deletion of this archive's site",
		})
	})
}

// startDaemon serves store with a site certificate from the home's CA.
func startDaemon(t *testing.T, home, store string) string {
	t.Helper()
	ca, err := pki.Load(filepath.Join(home, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	is, err := ca.Issue(pki.Request{Role: pki.RoleSite, Name: "lu-d", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(is.CertPEM, is.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fs.New(context.Background(), fs.Config{Path: store, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	srv, err := server.New(server.Config{Backend: b, ClientCAs: pool, Home: ca.Home, Certificate: pair, Drain: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

func TestExitDaemonSite(t *testing.T) {
	t.Parallel() // own temp home and sites, no fixed ports, no environment changes
	dir, home, _ := setup(t)
	mustRun(t, home, "pki", "init")
	store := filepath.Join(dir, "daemon-store")
	addr := startDaemon(t, home, store)
	mustRun(t, home, "site", "add", "lu-d", "--url", "embassy://"+addr, "--jurisdiction", "LU")
	src := exitSource(t, dir)
	mustRun(t, home, "snapshot", "registry", src, "--class", "internal")
	if countFiles(t, store) == 0 {
		t.Fatal("daemon store is empty")
	}
	archive := filepath.Join(dir, "lu-d.tar")
	out := mustRun(t, home, "--json", "exit", "lu-d", "--archive", archive)
	var rep vault.ExitReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Signer != "site" || rep.Remaining != 0 || rep.Deleted != rep.Objects || !rep.Restore.ReadData {
		t.Fatalf("report: %+v", rep)
	}
	if n := countFiles(t, store); n != 0 {
		t.Fatalf("%d files left at the daemon", n)
	}
	expectRun(t, home, ExitOK, []string{"exit", "verify", archive}, lines{
		rx(regexp.QuoteMeta("archive "+archive+": 14 objects, ") + `[0-9.]+ KiB, of site lu-d \(home h[0-9a-f]{20}\), manifest signed by the home`),
		"restores: 1 dataset, 1 snapshot, 2 packs verified with all data in a fresh site",
		rx(`deletion certificate: lu-d at [0-9T:-]+Z: nothing remained; signed by the site's daemon \(certificate chained to the home CA\)`),
	}, nil)
	// A certificate claiming another manifest, or re-signed by someone else, is refused.
	var c map[string]json.RawMessage
	raw, _ := os.ReadFile(archive + ".certificate.json")
	json.Unmarshal(raw, &c)
	c["body"] = json.RawMessage(strings.Replace(string(c["body"]), `"remaining":0`, `"remaining":-0`, 1))
	p := filepath.Join(dir, "cert.json")
	vault.WriteJSONFile(p, c)
	expectRun(t, home, ExitDamaged, []string{"exit", "verify", archive, "--certificate", p}, nil, lines{
		"embassy: error: " + p + ": certificate: signature does not verify",
		"embassy: hint: the deletion certificate does not prove the deletion of this archive's site",
	})
	mustRun(t, home, "restore", "registry", "--target", filepath.Join(dir, "r"))
}

// TestExitShredCLI: 'exit SITE --shred DATASET' through the command line:
// the dataset no longer restores from the remaining site, the other does,
// and the log holds the shred (marked for the exit, by id) and the exit.
func TestExitShredCLI(t *testing.T) {
	t.Parallel() // own temp home and sites, no fixed ports, no environment changes
	dir, home, _ := setup(t)
	src := exitSource(t, dir)
	mustRun(t, home, "snapshot", "registry", src, "--class", "internal")
	mustRun(t, home, "snapshot", "land", src, "--class", "internal")
	var st struct {
		Datasets []struct{ Name, ID string }
	}
	if err := json.Unmarshal([]byte(mustRun(t, home, "--json", "key", "status")), &st); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, d := range st.Datasets {
		ids[d.Name] = d.ID
	}
	var rep vault.ExitReport
	if err := json.Unmarshal([]byte(mustRun(t, home, "--json", "exit", "lu", "--archive", filepath.Join(dir, "lu.tar"), "--shred", "registry")), &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Done || len(rep.Shredded) != 1 || rep.Shredded[0] != "registry" || rep.Remaining != 0 {
		t.Fatalf("exit report: %+v", rep)
	}
	if r := run(t, home, "", "restore", "registry", "--target", filepath.Join(dir, "r-registry")); r.code == 0 {
		t.Fatal("the shredded dataset restored after the exit")
	}
	mustRun(t, home, "restore", "land", "--target", filepath.Join(dir, "r-land"))
	var ents []struct {
		Kind    string
		Dataset string
		Details map[string]string
	}
	if err := json.Unmarshal([]byte(mustRun(t, home, "--json", "log")), &ents); err != nil {
		t.Fatal(err)
	}
	var shred, done bool
	for _, e := range ents {
		shred = shred || (e.Kind == "key.shred" && e.Dataset == ids["registry"] && e.Details["for"] == "exit")
		done = done || (e.Kind == "exit" && e.Details["phase"] == "done" && e.Details["shredded"] == ids["registry"])
	}
	if ids["registry"] == "" || !shred || !done {
		t.Fatalf("log: shred %v, exit %v (registry id %q)", shred, done, ids["registry"])
	}
}
