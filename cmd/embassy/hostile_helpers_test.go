package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Helpers of the hostile-host tests: each plays one attack of
// docs/THREATS.md against a real home and local sites with the real binary,
// using only what a host holds (its own site's files, the vault's public
// records), and asserts that the attack is refused or detected with an
// alert naming the site, that nothing is readable with the host's keys and
// that nothing stored is lost.

type runResult struct {
	code           int
	stdout, stderr string
}

// try runs the binary and returns its exit code and output.
func (f *fixture) try(args ...string) runResult {
	f.t.Helper()
	var out, errb bytes.Buffer
	c := f.cmd(args...)
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		f.t.Fatal(err)
	}
	return runResult{code, out.String(), errb.String()}
}

// homeFingerprint is the home fingerprint of the fixture's home.
func (f *fixture) homeFingerprint() string {
	f.t.Helper()
	var st struct {
		FP string `json:"home_fingerprint"`
	}
	if err := json.Unmarshal([]byte(f.run("--json", "key", "status")), &st); err != nil || !strings.HasPrefix(st.FP, "fp1-") {
		f.t.Fatalf("key status fingerprint %q: %v", st.FP, err)
	}
	return st.FP
}

// epochRecord reads a key-epoch record's body from a site folder, as a host can.
func epochRecord(t *testing.T, siteDir string, epoch string) (kem []byte, recipients []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(siteDir, "config", "epoch-"+epoch))
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Body struct {
			KEM        string `json:"kem"`
			Custodians []struct {
				Recipient string `json:"recipient"`
			} `json:"custodians"`
		} `json:"body"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	kem, err = base64.StdEncoding.DecodeString(env.Body.KEM)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range env.Body.Custodians {
		recipients = append(recipients, c.Recipient)
	}
	return kem, recipients
}

// datasetIDs lists the dataset ids at a site folder.
func datasetIDs(t *testing.T, siteDir string) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(siteDir, "keys", "datasets"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// siteAlerts reads the home's alerts.jsonl entries about site integrity.
func (f *fixture) siteAlerts() []map[string]any {
	f.t.Helper()
	fh, err := os.Open(filepath.Join(f.home, "alerts.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	defer fh.Close()
	var out []map[string]any
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["kind"] == "site-integrity" {
			out = append(out, m)
		}
	}
	return out
}

// alerted reports whether the home recorded attack at siteName, both in
// alerts.jsonl and as a whole warning line on stderr naming the site (the
// tests that check the whole stderr pin the object and detail too).
func (f *fixture) alerted(stderr, siteName, attack string) bool {
	f.t.Helper()
	line := regexp.MustCompile(`^(?:` + string(siteAlert(siteName, attack, `\S+`, `.+`)) + `)$`)
	found := false
	for _, l := range strings.Split(masked(stderr), "\n") {
		found = found || line.MatchString(l)
	}
	if !found {
		return false
	}
	for _, a := range f.siteAlerts() {
		if a["site"] == siteName && a["attack"] == attack {
			return true
		}
	}
	return false
}

// writeSource writes a small source tree with the given register content.
func writeSource(t *testing.T, dir, content string) string {
	t.Helper()
	os.MkdirAll(filepath.Join(dir, "docs"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "register.csv"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "docs", "scan.bin"), bytes.Repeat([]byte(content), 2000), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// sameFile fails unless the restored register equals want.
func sameFile(t *testing.T, path, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || string(b) != want {
		t.Fatalf("restored %s = %q (%v), want %q", path, b, err, want)
	}
}

// forgedVault plays attack 2's set-up: f's home has a registry snapshot
// (content real, class C1-I1-A1); the host builds its own vault at
// site-forged with the real custodians' recipients (read from the epoch
// record at its site) and a registry snapshot of content fake. It returns
// the real home's fingerprint, the forged site's folder and the host's
// home.
func forgedVault(t *testing.T, f *fixture, real, fake string) (realFP, forged string, host *fixture) {
	t.Helper()
	f.run("snapshot", "registry", writeSource(t, filepath.Join(f.dir, "src"), real), "--class", "C1-I1-A1")
	realFP = f.homeFingerprint()
	_, recipients := epochRecord(t, filepath.Join(f.dir, "site-a"), "00000001")
	host = &fixture{t: t, dir: f.dir, home: filepath.Join(f.dir, "host-home")}
	args := []string{"init", "--threshold", "2"}
	for _, r := range recipients {
		args = append(args, "--custodian", r)
	}
	host.run(args...)
	forged = filepath.Join(f.dir, "site-forged")
	host.run("site", "add", "forged", "--url", forged, "--jurisdiction", "LU")
	host.run("snapshot", "registry", writeSource(t, filepath.Join(f.dir, "fake"), fake), "--class", "C1-I1-A1")
	return realFP, forged, host
}
