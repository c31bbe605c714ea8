package cli

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// With every site gone, a snapshot without --class is still decided under
// the dataset's class (read from the home's log, since no site returns
// the manifests): the policy's class warnings name C3-I3-A3 and the error
// is the sites', not "policy denies snapshot of ds (unlabelled)".
func TestSnapshotEverySiteGoneKeepsClass(t *testing.T) {
	t.Parallel() // own temp home and sites
	dir, home, _ := setup(t)
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a"), []byte("hello"), 0o644)
	mustRun(t, home, "snapshot", "ds", src, "--class", "C3-I3-A3")
	os.RemoveAll(filepath.Join(dir, "site-ch"))
	os.RemoveAll(filepath.Join(dir, "site-lu"))
	r := run(t, home, "", "snapshot", "ds", src)
	got := strings.ReplaceAll(r.stderr, dir, "DIR")
	if i := strings.Index(got, "upload pack: write data/"); i > 0 {
		j := strings.Index(got[i:], " failed at every site")
		got = got[:i] + "upload pack: write PACK" + got[i+j:]
	}
	want := `embassy: warning: site lu is unavailable: site directory DIR/site-lu does not exist: create it or check the path
embassy: warning: site ch is unavailable: site directory DIR/site-ch does not exist: create it or check the path
embassy: warning: dataset ds is of integrity level I3, which needs a log witness outside the home: the log policy's quorum can be met by the home's own witnesses alone: it names no witness outside the home; add a host site's witness with 'embassy witness add NAME VKEY URL'
embassy: warning: policy: C3-I3-A3 data needs 2 copies at sites; 0 available (class rule min-copies in policy.yaml)
embassy: warning: policy: C3-I3-A3 data is critical and needs copies in 2 jurisdictions; none: add a site in another jurisdiction (class rule min-jurisdictions in policy.yaml)
embassy: error: nothing saved: upload pack: write PACK failed at every site: site lu: site directory DIR/site-lu does not exist: create it or check the path
site ch: site directory DIR/site-ch does not exist: create it or check the path
embassy: hint: check 'embassy site list' and the sites' reachability
`
	if r.code != 1 || r.stdout != "" || got != want {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s\nwant exit 1, stderr:\n%s", r.code, r.stdout, got, want)
	}
}

// A disclosure with a bad argument is refused before anything is logged:
// exit 2, the refusal only (no "Logged disclosure N"), no disclosure entry.
func TestDiscloseBadArgumentLogsNothing(t *testing.T) {
	t.Parallel() // own temp home and sites
	_, home, _ := setup(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--reason", "THIRD_PARTY_DATA_REQUEST", "--access", "legal-demand", "--who", "court", "--what", "y", "--dataset", "nosuch"},
			"embassy: error: disclosure --dataset nosuch: the home holds no dataset named \"nosuch\"\nembassy: hint: see 'embassy ls' for the datasets, or leave --dataset out for all data at the site\n"},
		{[]string{"--reason", "THIRD_PARTY_DATA_REQUEST", "--access", "legal-demand", "--who", "court", "--what", "y", "--approved", "99999"},
			"embassy: error: disclosure --approved 99999: the log holds no access request 99999\nembassy: hint: see 'embassy access list' for the requests; a reference of the sending state's own is not a number\n"},
		{[]string{"--reason", "NOPE", "--who", "x", "--what", "y"},
			"embassy: error: disclosure reason \"NOPE\": use one of EMERGENCY_BREAK_GLASS, HOME_INITIATED_ACCESS, HOME_INITIATED_SUPPORT, HOST_INITIATED_REVIEW, HOST_INITIATED_SERVICE, HOST_INITIATED_SYSTEM_OPERATION, REASON_NOT_EXPECTED, RESPONSE_TO_PRODUCTION_ALERT, THIRD_PARTY_DATA_REQUEST\nembassy: hint: see 'embassy help' or add --help to the command\n"},
	} {
		r := run(t, home, "", append([]string{"disclose", "--site", "lu"}, tc.args...)...)
		if r.code != 2 || r.stdout != "" || r.stderr != tc.want {
			t.Errorf("disclose %q: exit %d, stdout %q, stderr %q; want exit 2, stderr %q", tc.args, r.code, r.stdout, r.stderr, tc.want)
		}
	}
	if out := mustRun(t, home, "log", "--kind", "disclosure", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("disclosures logged after refused arguments: %s", out)
	}
}

// TestHomeDiskFullOneError: the real binary, with the home's disk full,
// prints embassy's error and hint and nothing from the libraries below it
// (tessera's POSIX driver warned "Failed to remove temporary file" through
// slog's default logger, straight to stderr). With --log-level debug the
// line is still there, in the command's log. Needs root (mount).
func TestHomeDiskFullOneError(t *testing.T) {
	home, src, _ := fullDiskHome(t)
	bin, err := exec.LookPath("embassy") // the test binary as embassy (TestMain)
	if err != nil {
		t.Fatal(err)
	}
	embassy := func(args ...string) (int, string) {
		cmd := exec.Command(bin, append([]string{"--home", home, "--progress", "never"}, args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), stderr.String()
	}
	want := regexp.MustCompile(`^embassy: warning: [^\n]*key unwraps[^\n]*\n` +
		`embassy: error: snapshot refused: the disk holding the home ` + regexp.QuoteMeta(home) +
		` is full \([0-9]+ KiB free\): the operation could not be recorded in the transparency log\n` +
		`embassy: hint: free space on that disk \(or move the home to a bigger one\) and run it again; nothing was changed\n$`)
	code, stderr := embassy("snapshot", "registry", src, "--class", "internal")
	if code != ExitError || !want.MatchString(stderr) {
		t.Fatalf("snapshot on a full home disk: exit %d, want %d and only embassy's lines:\n%s", code, ExitError, stderr)
	}
	code, stderr = embassy("--log-level", "debug", "snapshot", "registry", src, "--class", "internal")
	// substring: tessera's own debug line, with a time and a temp path of its making
	if code != ExitError || !strings.Contains(stderr, `level=DEBUG msg="Failed to remove temporary file"`) {
		t.Fatalf("--log-level debug: exit %d, want tessera's line in the command's log at debug level:\n%s", code, stderr)
	}
}

// Watch runs no scheduled job, by design (docs/ARCHITECTURE.md: the
// scheduler's jobs are protect's): its help says so and points at
// protect, and a watch cycle leaves the schedule's state alone.
func TestWatchHelpPointsAtProtect(t *testing.T) {
	t.Parallel() // own temp home
	_, home, _ := setup(t)
	out := mustRun(t, home, "watch", "--help")
	want := `Watch runs no scheduled job. The home's schedule (protect.yaml schedule:
agreements, inventory, integrity, config, drills, and the host-facing
checks: pulling access requests and incidents from the daemons and
escalating them, updates, sla probes, compute, location) is run by
'embassy protect', one scheduler for the home; its alerts go through the
same routes of <home>/watch.yaml. Run protect beside watch, or those checks
wait for someone to type their commands.
`
	// substring: the paragraph, whole lines between blank lines, of the whole help
	if !strings.Contains(out, "\n\n"+want+"\n") {
		t.Fatalf("embassy watch --help does not say who runs the schedule:\n%s", out)
	}
	if r := run(t, home, "", "watch", "--once"); r.code != 0 || r.stdout != "no alerts\n" || r.stderr != "" {
		t.Fatalf("watch --once: exit %d\nstdout %q\nstderr %q", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(home, "schedule")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("watch touched the schedule's state: %v", err)
	}
}
