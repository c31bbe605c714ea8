package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/digital-embassy/embassy/internal/vault"
)

var (
	clockOnce sync.Once
	clockBin  string
	clockErr  error
)

// clockBinary is the binary built with -tags embassy_testclock, the only
// build that reads EMBASSY_NOW (internal/cli/now_testclock.go); built once,
// next to the test binary.
func clockBinary(t *testing.T) string {
	t.Helper()
	clockOnce.Do(func() {
		p := filepath.Join(filepath.Dir(bin), "embassy-testclock")
		out, err := exec.Command("go", "build", "-tags", "embassy_testclock", "-o", p, ".").CombinedOutput()
		if err != nil {
			clockErr = fmt.Errorf("build with -tags embassy_testclock: %v\n%s", err, out)
			return
		}
		clockBin = p
	})
	if clockErr != nil {
		t.Fatal(clockErr)
	}
	return clockBin
}

// at runs the binary built with the injectable clock, at now (EMBASSY_NOW).
func (f *fixture) at(now string, args ...string) runResult {
	f.t.Helper()
	c := f.cmd(args...)
	c.Path = clockBinary(f.t)
	c.Env = append(c.Env, "EMBASSY_NOW="+now)
	var out, errb strings.Builder
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		f.t.Fatal(err)
	}
	return runResult{code, out.String(), errb.String()}
}

// filesNaming lists the files under dir whose path contains s.
func filesNaming(t *testing.T, dir, s string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		// substring: a path filter over files, not output
		if err == nil && !d.IsDir() && strings.Contains(p, s) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestRequirement25ExitPortability (framework requirement 25, issue 18
// #25) drives 'embassy exit' with the real binary. --shred: the shredded
// dataset's keys are gone from the home and from every site, a copy of the
// site the host kept before the exit decrypts nothing of it even when
// attached again, the other dataset still restores, and the deletion
// certificate verifies (and fails when edited). The deadline: the site's
// agreement allows 14 days; before them 'exit status' is quiet, past them
// it reports the exit overdue (exit 3) with one alert, and the exit can
// still be completed.
func TestRequirement25ExitPortability(t *testing.T) {
	t.Parallel()
	t.Run("shred", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		src := filepath.Join(f.dir, "src")
		writeFile(t, filepath.Join(src, "register.csv"), "38501012231,Mari,Tamm\n")
		f.run("snapshot", "registry", src, "--class", "internal")
		f.run("snapshot", "land", src, "--class", "internal")
		var st struct{ Datasets []struct{ Name, ID string } }
		if err := json.Unmarshal([]byte(f.run("--json", "key", "status")), &st); err != nil {
			t.Fatal(err)
		}
		ids := map[string]string{}
		for _, d := range st.Datasets {
			ids[d.Name] = d.ID
		}
		if ids["registry"] == "" || ids["land"] == "" {
			t.Fatalf("key status datasets %+v", st.Datasets)
		}
		// the host of site a keeps a full copy of its directory
		kept := filepath.Join(f.dir, "kept-a")
		if out, err := exec.Command("cp", "-a", filepath.Join(f.dir, "site-a"), kept).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
		if len(filesNaming(t, kept, ids["registry"])) == 0 {
			t.Fatal("the kept copy holds no key record of registry: the test would prove nothing")
		}

		archive := filepath.Join(f.dir, "a-exit.tar")
		var rep vault.ExitReport
		if err := json.Unmarshal([]byte(f.run("--json", "exit", "a", "--archive", archive, "--shred", "registry")), &rep); err != nil {
			t.Fatal(err)
		}
		if !rep.Done || len(rep.Shredded) != 1 || rep.Shredded[0] != "registry" || rep.Remaining != 0 || rep.Certificate == "" {
			t.Fatalf("exit report %+v", rep)
		}
		// keys destroyed at home (mirror and root keys of the old epoch) and at every site
		for _, where := range []string{filepath.Join(f.home, "meta"), filepath.Join(f.dir, "site-b"), filepath.Join(f.dir, "site-a")} {
			if left := filesNaming(t, where, ids["registry"]); len(left) != 0 {
				t.Errorf("after the shred, %s still holds objects of registry: %v", where, left)
			}
		}
		roots, _ := filepath.Glob(filepath.Join(f.home, "keys", "root-*"))
		if len(roots) != 1 {
			t.Errorf("home root keys after the shred: %v, want only the new epoch's", roots)
		}
		wantRun(t, "restore of the shredded dataset", f.try("restore", "registry", "--target", filepath.Join(f.dir, "r1")), 1, nil, lines{
			`embassy: error: dataset "registry" not found`,
			"embassy: hint: known datasets: land",
		})
		// the host's kept copy, attached again, decrypts nothing of registry
		f.run("site", "add", "kept", "--url", kept, "--jurisdiction", "LU", "--no-copy")
		wantRun(t, "restore from the copy the host kept", f.try("restore", "registry", "--target", filepath.Join(f.dir, "r2")).masked(), 1, nil, lines{
			`time=YYYY-MM-DDThh:mm:ssZ level=WARN msg="hostile or damaged site" site=kept attack=hidden-epoch object=config/epoch-00000002 detail="site shows key epochs up to 1 but the home knows 2; the site is stale or hiding the newest epoch (run 'embassy site sync')"`,
			`embassy: error: dataset "registry" not found`,
			"embassy: hint: known datasets: land",
		})
		if _, err := os.Stat(filepath.Join(f.dir, "r2")); err == nil {
			if left := filesNaming(t, filepath.Join(f.dir, "r2"), "register.csv"); len(left) != 0 {
				t.Fatalf("a restore from the kept copy wrote %v", left)
			}
		}
		f.run("site", "remove", "kept")
		f.run("restore", "land", "--target", filepath.Join(f.dir, "r-land"))
		if b, err := os.ReadFile(filepath.Join(f.dir, "r-land", filepath.Base(src), "register.csv")); err != nil {
			if left := filesNaming(t, filepath.Join(f.dir, "r-land"), "register.csv"); len(left) != 1 {
				t.Fatalf("land did not restore: %v %v", err, left)
			}
		} else if string(b) != "38501012231,Mari,Tamm\n" {
			t.Fatalf("land restored %q", b)
		}
		// the deletion certificate verifies offline, and not once edited
		wantRun(t, "exit verify", f.try("exit", "verify", archive).masked(f.dir, "DIR"), 0, lines{
			rx(`archive DIR/a-exit\.tar: 19 objects, \d+\.\d KiB, of site a \(home hHHHHHHHHHHHHHHHHHHHH\), manifest signed by the home`),
			"restores: 1 dataset, 1 snapshot, 2 packs verified with all data in a fresh site",
			"deletion certificate: a at YYYY-MM-DDThh:mm:ssZ: nothing remained; the home's own attestation, not a host-signed certificate",
		}, nil)
		cert, err := os.ReadFile(rep.Certificate)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(cert, &doc); err != nil {
			t.Fatalf("certificate is not JSON: %v", err)
		}
		forged := strings.Replace(string(cert), `"remaining"`, `"remaining_"`, 1)
		if forged == string(cert) {
			forged = strings.Replace(string(cert), `"a"`, `"b"`, 1)
		}
		if err := os.WriteFile(rep.Certificate, []byte(forged), 0o644); err != nil {
			t.Fatal(err)
		}
		wantRun(t, "exit verify of an edited certificate", f.try("exit", "verify", archive).masked(f.dir, "DIR"), 3, nil, lines{
			"embassy: error: DIR/a-exit.tar.certificate.json: attestation: signature does not verify",
			"embassy: hint: the deletion certificate does not prove the deletion of this archive's site",
		})
	})

	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		const start = "2027-01-10T10:00:00Z"
		var pubs []string
		for _, role := range []string{"sending", "host"} {
			pubs = append(pubs, strings.TrimSpace(f.run("agreement", "keygen", "-o", filepath.Join(f.dir, role+".key"))))
		}
		b, err := os.ReadFile("../../examples/agreements/ee-lu.yaml")
		if err != nil {
			t.Fatal(err)
		}
		doc := strings.NewReplacer("SENDING_KEY", pubs[0], "HOST_KEY", pubs[1], "export-days: 30", "export-days: 14").Replace(string(b))
		// substring: checks the test's own edit of the agreement file took, not output
		if !strings.Contains(doc, "export-days: 14") {
			t.Fatal("example agreement has no export-days: 30 to tighten")
		}
		ag := filepath.Join(f.dir, "ee-lu.yaml")
		writeFile(t, ag, doc)
		for _, role := range []string{"sending", "host"} {
			f.run("agreement", "sign", ag, "--key", filepath.Join(f.dir, role+".key"), "--role", role)
		}
		f.run("agreement", "add", ag)
		f.run("site", "add", "c", "--url", filepath.Join(f.dir, "site-c"), "--jurisdiction", "LU", "--agreement", "ee-lu")

		wantRun(t, "notice under a 14-day agreement", f.at(start, "exit", "c", "--notice"), 0,
			lines{"exit from c began 2027-01-10T10:00:00Z; the agreement allows until 2027-01-24T10:00:00Z"}, nil)
		alerts := func() int {
			b, _ := os.ReadFile(filepath.Join(f.home, vault.SiteAlertsFile))
			return strings.Count(string(b), `"kind":"`+vault.ExitOverdueKind+`"`)
		}
		// a second before the deadline: open, quiet
		wantRun(t, "status before the deadline", f.at("2027-01-24T09:59:59Z", "exit", "status"), 0,
			lines{"c: open, began 2027-01-10, deadline 2027-01-24T10:00:00Z (14 days)"}, nil)
		if n := alerts(); n != 0 {
			t.Fatalf("status before the deadline: %d alerts", n)
		}
		// a second past it: overdue (exit 3), one alert, raised once
		r := f.at("2027-01-24T10:00:01Z", "--json", "exit", "status")
		var open []vault.OpenExit
		if err := json.Unmarshal([]byte(r.stdout), &open); err != nil || r.code != 3 || len(open) != 1 || !open[0].Overdue || open[0].Days != 14 {
			t.Fatalf("status past the deadline: exit %d %+v %v\n%s", r.code, open, err, r.stderr)
		}
		wantRun(t, "status past the deadline", r, 3, text(`
[
  {
    "site": "c",
    "agreement": "ee-lu",
    "started": "2027-01-10T10:00:00Z",
    "days": 14,
    "deadline": "2027-01-24T10:00:00Z",
    "alerted": true,
    "overdue": true
  }
]`), lines{"embassy: warning: the exit from site c began 2027-01-10 and is not complete: the agreement allowed 14 days (deadline 2027-01-24T10:00:00Z)"})
		if n := alerts(); n != 1 {
			t.Fatalf("overdue alert: %d alerts, want 1", n)
		}
		wantRun(t, "second status past the deadline", f.at("2027-01-25T10:00:00Z", "exit", "status"), 3,
			lines{"c: OVERDUE, began 2027-01-10, deadline 2027-01-24T10:00:00Z (14 days)"}, nil)
		if n := alerts(); n != 1 {
			t.Fatalf("second status past the deadline: %d alerts, want still 1", n)
		}
		// the exit still completes late, and then nothing is open
		wantRun(t, "late exit", f.at("2027-01-25T11:00:00Z", "exit", "c", "--archive", filepath.Join(f.dir, "c.tar")).masked(f.dir, "DIR"), 0, text(`
exported c to DIR/c.tar
archive restores: 0 datasets, 0 snapshots, 0 packs verified with all data in a fresh site
deleted 7 objects at c; certificate DIR/c.tar.certificate.json
note: c has no daemon, so the certificate is the home's own attestation that the listing was empty, not a host-signed certificate
site c removed from the registry`), nil)
		wantRun(t, "status after the exit", f.at("2027-01-25T11:00:00Z", "exit", "status"), 0, lines{"no exit is open"}, nil)
	})
}
