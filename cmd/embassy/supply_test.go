package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Supply-chain and update control (framework requirement 16) through the
// real binaries: an embassyd build the sending state did not approve is
// detected at its site; a key is not released to a workload whose
// attested measurements no update approval covers.

// logKind returns the log's entries of kind as JSON objects.
func (f *fixture) logKind(kind string) []struct {
	Site, Object, Reason, Dataset string
	Details                       map[string]string
} {
	f.t.Helper()
	var ents []struct {
		Site, Object, Reason, Dataset string
		Details                       map[string]string
	}
	if err := json.Unmarshal([]byte(f.run("--json", "log", "--kind", kind)), &ents); err != nil {
		f.t.Fatalf("log --kind %s: %v", kind, err)
	}
	return ents
}

func fileSHA256(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// hostileBuild is a copy of the daemon with bytes appended: it runs as
// before, with another digest (a rebuild, a patched or a vendor build).
func hostileBuild(t *testing.T, dir string) string {
	t.Helper()
	src, err := os.Open(embassyd(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	p := filepath.Join(dir, "embassyd-vendor")
	dst, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Write([]byte("\x00vendor patch 2026-12\x00")); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHostileUnapprovedDaemonUpdate: the host replaces the approved daemon
// with another build and restarts it. 'embassy update check' reports the
// site and the new digest (exit 3), logs one update.alert naming both and
// records the alert; a second check still fails without logging it again.
// Once the sending state approves the build the check passes; revoking the
// approval makes it fail again.
func TestHostileUnapprovedDaemonUpdate(t *testing.T) {
	t.Parallel() // waits on daemons more than on CPU
	f := newFixture(t)
	f.run("pki", "init")
	approved := embassyd(t)
	sbom := filepath.Join(f.dir, "embassyd.cdx.json")
	f.run("sbom", "--binary", approved, "-o", sbom)
	var bom struct {
		SpecVersion string `json:"specVersion"`
		Metadata    struct {
			Component struct {
				Name   string                     `json:"name"`
				Hashes []struct{ Content string } `json:"hashes"`
			} `json:"component"`
		} `json:"metadata"`
		Components []struct{ Name string } `json:"components"`
	}
	b, _ := os.ReadFile(sbom)
	if err := json.Unmarshal(b, &bom); err != nil {
		t.Fatal(err)
	}
	digest := fileSHA256(t, approved)
	if bom.SpecVersion != "1.6" || bom.Metadata.Component.Name != "embassyd" || bom.Metadata.Component.Hashes[0].Content != digest || len(bom.Components) < 10 {
		t.Fatalf("SBOM of embassyd: spec %s, component %+v, %d components", bom.SpecVersion, bom.Metadata.Component, len(bom.Components))
	}
	f.run("update", "approve", "--artifact", "embassyd", "--binary", approved, "--sbom", sbom, "--until", "30d")
	sum := sha256.Sum256(b)
	if a := f.logKind("update.approve"); len(a) != 1 || a[0].Details["digest"] != digest || a[0].Details["sbom"] != hex.EncodeToString(sum[:]) {
		t.Fatalf("update.approve entries: %+v", a)
	}

	lu := f.issueSite("lu", "127.0.0.1")
	lu.start()
	f.run("site", "add", "lu", "--url", "embassy://"+lu.addr, "--jurisdiction", "LU")
	wantRun(t, "update check of the approved daemon", f.try("update", "check").masked(digest, "APPROVED"), 0,
		lines{"lu           approved   APPROVED github.com/digital-embassy/embassy@(devel)"}, nil)

	// The host swaps the binary and restarts the daemon on the same port.
	vendor := hostileBuild(t, f.dir)
	vendorDigest := fileSHA256(t, vendor)
	lu.cmd.Process.Signal(syscall.SIGTERM)
	lu.cmd.Wait()
	lu.wrap = []string{"sh", "-c", `exec "` + vendor + `" "$@"`} // $0 is the approved path, dropped
	lu.start()

	vendorOut := lines{"lu           unapproved VENDOR github.com/digital-embassy/embassy@(devel)"}
	unapproved := lines{
		"embassy: warning: site lu runs an unapproved embassyd build: embassyd digest VENDOR16…: no update approval covers it: approve it with 'embassy update approve --artifact embassyd --digest VENDOR --until DATE', or restore the approved build",
		"embassy: error: unapproved update at lu (alert logged)",
		"embassy: hint: approve the build with 'embassy update approve --artifact embassyd --digest DIGEST --until DATE' if the sending state vetted it, or have the host restore the approved one",
	}
	wantRun(t, "update check of the unapproved daemon build", f.try("update", "check").masked(vendorDigest, "VENDOR", vendorDigest[:16], "VENDOR16"), 3, vendorOut, unapproved)
	alerts := f.logKind("update.alert")
	if len(alerts) != 1 || alerts[0].Site != "lu" || alerts[0].Object != vendorDigest || alerts[0].Reason != "unapproved" {
		t.Fatalf("update.alert entries: %+v", alerts)
	}
	ab, _ := os.ReadFile(filepath.Join(f.home, "alerts.jsonl"))
	if !bytes.Contains(ab, []byte(`"update-unapproved"`)) || !bytes.Contains(ab, []byte(vendorDigest)) {
		t.Fatalf("alerts.jsonl has no update alert naming the digest:\n%s", ab)
	}
	wantRun(t, "second check of the unapproved build", f.try("update", "check").masked(vendorDigest, "VENDOR", vendorDigest[:16], "VENDOR16"), 3, vendorOut, unapproved)
	if n := len(f.logKind("update.alert")); n != 1 {
		t.Fatalf("the same unapproved build was logged %d times", n)
	}

	// The sending state vets and approves the vendor build: the check passes.
	out := f.run("--json", "update", "approve", "--artifact", "embassyd", "--digest", vendorDigest, "--until", "2099-01-01", "--note", "vendor patch")
	var ap struct{ ID string }
	json.Unmarshal([]byte(out), &ap)
	wantRun(t, "update check of the approved vendor build", f.try("update", "check", "lu").masked(vendorDigest, "VENDOR"), 0,
		lines{"lu           approved   VENDOR github.com/digital-embassy/embassy@(devel)"}, nil)
	if res := f.logKind("update.resolved"); len(res) != 1 || res[0].Site != "lu" || res[0].Object != vendorDigest {
		t.Fatalf("update.resolved entries after the approval: %+v", res)
	}
	// Revoked (say, a CVE in it): detected again, logged as revoked.
	f.run("update", "revoke", ap.ID, "--reason", "CVE-2026-0001")
	wantRun(t, "update check of the revoked build", f.try("update", "check").masked(vendorDigest, "VENDOR", vendorDigest[:16], "VENDOR16", ap.ID, "UID"), 3,
		lines{"lu           revoked    VENDOR github.com/digital-embassy/embassy@(devel)"}, lines{
			"embassy: warning: site lu runs a revoked embassyd build: embassyd digest VENDOR16…: its approval UID was revoked at YYYY-MM-DDThh:mm:ssZ (CVE-2026-0001)",
			unapproved[1], unapproved[2],
		})
	alerts = f.logKind("update.alert")
	if len(alerts) != 2 || alerts[1].Reason != "revoked" || len(f.logKind("update.revoke")) != 1 {
		t.Fatalf("after the revocation: alerts %+v", alerts)
	}
	// A forged approval dropped into the home folder is refused, not trusted.
	forged := bytes.Replace(b, []byte("x"), []byte("y"), 1)
	os.WriteFile(filepath.Join(f.home, "updates", "approved", "u0000000000000000.json"), forged, 0o644)
	wantRun(t, "update list with a forged approval file", f.try("update", "list").masked(f.dir, "DIR"), 3, nil, lines{
		`embassy: error: DIR/home/updates/approved/u0000000000000000.json: update approval: json: unknown field "$schema"`,
		"embassy: hint: remove the file, or approve the update again with 'embassy update approve'",
	})
}

// TestHostileUnapprovedMeasurementBlocksRelease: the dataset's class has
// the attested-release key policy, so its keys need update control. With
// no update approval the broker refuses (code "update") though the
// reference values match; approved, the workload gets the key. The host
// then moves the workload to a new image whose reference values the broker
// also accepts, but that the sending state never approved as an update:
// refused and logged, until the update is approved. Revoking the approval
// stops releases at once.
func TestHostileUnapprovedMeasurementBlocksRelease(t *testing.T) {
	f := newFixture(t)
	model := make([]byte, 256<<10)
	rand.Read(model)
	infer := brokerHome(t, f, model)
	pol := "classes:\n  - class: C0-I0-A0\n    min-copies: 1\n    key-policy: attested-release\n"
	if err := os.WriteFile(filepath.Join(f.home, "policy.yaml"), []byte(pol), 0o644); err != nil {
		t.Fatal(err)
	}
	// Image v2: reference values published, signed and approved at the
	// broker, and allowed by the release rule.
	v2 := filepath.Join(f.dir, "infer-v2.sh")
	os.WriteFile(v2, []byte("#!/bin/sh\necho \"weights-dir $EMBASSY_WORKLOAD_DIR\"\n"), 0o755)
	refs2 := filepath.Join(f.dir, "refs2.json")
	os.WriteFile(refs2, []byte(f.run("workload", "refs", "--tee", "tpm-sim", "--measure", "9="+v2, "--name", "inference-v2")), 0o644)
	f.run("broker", "refs", "sign", refs2, "-o", refs2+".signed")
	wantLines(t, "broker refs add", f.run("broker", "refs", "add", refs2+".signed"), lines{
		"staged reference values inference-v2 (tpm-sim, 11 measurements); approve with 'embassy broker refs approve inference-v2'",
	})
	f.run("broker", "refs", "approve", "inference-v2")
	wantLines(t, "broker refs list", f.run("broker", "refs", "list"), lines{
		rx(`approved  inference-v1 +tpm-sim +11 measurements, digest [0-9a-f]{16,64}`),
		rx(`approved  inference-v2 +tpm-sim +11 measurements, digest [0-9a-f]{16,64}`),
	})
	rules := "rules:\n  - name: weights-inference\n    datasets: [weights]\n    tee: [tpm-sim]\n    refs: [inference-v1, inference-v2]\n    sites: [a]\n    jurisdictions: [LU]\n"
	os.WriteFile(filepath.Join(f.home, "broker", "release.yaml"), []byte(rules), 0o644)
	pcr9 := func(file string) string {
		var rv struct{ Measurements map[string]string }
		b, _ := os.ReadFile(file)
		if err := json.Unmarshal(b, &rv); err != nil || rv.Measurements["pcr.sha256.9"] == "" {
			t.Fatalf("%s: no pcr.sha256.9 (%v)", file, err)
		}
		return rv.Measurements["pcr.sha256.9"]
	}
	v1PCR, v2PCR := pcr9(filepath.Join(f.dir, "refs.json")), pcr9(refs2)

	srv, url := startBroker(t, f)
	run := func(image string) runResult {
		return f.try("workload", "run", "--broker", url, "--dataset", "weights", "--site", filepath.Join(f.dir, "site-a"),
			"--ca", filepath.Join(f.home, "pki", "ca.crt"), "--tee", "tpm-sim", "--gpu", "none", "--measure", "9="+image, "--", "sh", infer)
	}
	sum := sha256.Sum256(model)
	released := lines{rx(`weights-dir /dev/shm/embassy-workload-\d+/data`), "weights-sha256 " + hex.EncodeToString(sum[:]), "prediction " + hex.EncodeToString(model[:8])} // infer.sh
	const refused = "embassy: error: the broker refused to release the key: update: class C1-I2-A2 requires update control: the attested measurements"

	// No update approval: refused with the reason, nothing decrypted.
	wantRun(t, "no update approval", run(infer), 3, nil,
		lines{refused + ": no update approval covers it; the sending state approves an update with 'embassy update approve --measurement NAME:HEX --until DATE'"})
	out := f.run("--json", "update", "approve", "--artifact", "inference-image", "--measurement", "pcr.sha256.9:"+v1PCR, "--until", "30d")
	var v1 struct{ ID string }
	json.Unmarshal([]byte(out), &v1)
	wantRun(t, "approved image", run(infer), 0, released, nil)
	// The host moves to image v2: the broker's reference values match, the
	// sending state's update approval does not.
	wantRun(t, "unapproved image update", run(v2).masked(v1.ID, "V1ID", v2PCR[:16], "V2PCR16", v1PCR[:16], "V1PCR16"), 3, nil,
		lines{refused + " match no update approval (V1ID: pcr.sha256.9 is V2PCR16…, inference-image approves V1PCR16…): an unapproved firmware or image update; the sending state approves an update with 'embassy update approve --measurement NAME:HEX --until DATE'"})
	f.run("update", "approve", "--artifact", "inference-image", "--measurement", "pcr.sha256.9:"+v2PCR, "--until", "30d", "--note", "inference v2")
	wantRun(t, "approved image update", run(v2), 0, released, nil)
	// Revoking v1's approval stops its releases without a restart.
	f.run("update", "revoke", v1.ID, "--reason", "superseded")
	wantRun(t, "revoked approval", run(infer).masked(v1.ID, "V1ID"), 3, nil,
		lines{refused + ": its approval V1ID was revoked at YYYY-MM-DDThh:mm:ssZ (superseded)"})

	srv.Process.Signal(syscall.SIGTERM)
	srv.Wait()
	var codes []string
	for _, e := range f.logKind("key.refuse") {
		codes = append(codes, e.Reason)
	}
	if strings.Join(codes, ",") != "update,update,update" {
		t.Fatalf("key.refuse reasons %q, want three update refusals", codes)
	}
	if n := len(f.logKind("key.release")); n != 2 {
		t.Fatalf("%d releases logged, want 2", n)
	}
}
