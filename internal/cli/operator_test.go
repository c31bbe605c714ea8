package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/repo"
)

// runDefault runs the CLI without --home, so that the default home (under
// $XDG_CONFIG_HOME) applies.
func runDefault(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), append([]string{"--progress", "never"}, args...), strings.NewReader(""), &out, &errb)
	return result{code, out.String(), errb.String()}
}

// TestQuickstartOwnFolder: quickstart without --home puts the demo in its
// own folder, says how to remove it, and a newcomer's first real init in
// the default home then works (issue 11.16).
func TestQuickstartOwnFolder(t *testing.T) {
	if testing.Short() {
		t.Skip("quickstart generates a registry")
	}
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("EMBASSY_HOME", "")
	os.Unsetenv("EMBASSY_HOME")
	r := runDefault(t, "quickstart", "--rows", "500", "--documents", "2")
	if r.code != 0 {
		t.Fatalf("quickstart: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	demo := filepath.Join(cfg, "embassy-quickstart")
	if !strings.Contains(r.stdout, "rm -rf "+demo) {
		t.Fatalf("quickstart does not say how to remove the demo:\n%s", r.stdout)
	}
	if _, err := os.Stat(filepath.Join(cfg, "embassy")); !os.IsNotExist(err) {
		t.Fatalf("quickstart wrote into the default home: %v", err)
	}
	key := filepath.Join(t.TempDir(), "a.key")
	rec := strings.TrimSpace(runDefault(t, "custodian", "keygen", "-o", key).stdout)
	if r := runDefault(t, "init", "--custodian", rec, "--threshold", "1"); r.code != 0 {
		t.Fatalf("init after quickstart: %d\n%s", r.code, r.stderr)
	}
}

// TestMissingRootKeyHint: a home whose root key file is gone is told to
// recover into a new folder, since recover refuses an existing home; and
// following that advice literally into this home is refused (issue 11.16).
func TestMissingRootKeyHint(t *testing.T) {
	_, home, _ := setup(t)
	keys, _ := filepath.Glob(filepath.Join(home, "keys", "root-*.key"))
	if len(keys) == 0 {
		t.Fatal("no root key file in the home")
	}
	for _, k := range keys {
		os.Remove(k)
	}
	r := run(t, home, "", "verify")
	if r.code != ExitKey {
		t.Fatalf("verify without a root key: exit %d\n%s", r.code, r.stderr)
	}
	var hintLine string
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.HasPrefix(l, "embassy: hint: ") {
			hintLine = l
		}
	}
	if !strings.Contains(hintLine, "--home NEW-DIR recover") || strings.Contains(hintLine, "with 'embassy recover'") {
		t.Fatalf("hint: %q", hintLine)
	}
	if r := run(t, home, "", "recover", "--site", "x", "--identity", "y"); r.code == 0 || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("recover into the existing home: %d %s", r.code, r.stderr)
	}
}

// TestHomeDiskFull: with the home's disk full, operations that change the
// vault are refused before they change anything, saying why and what to
// do, and work again once there is room (issue 11.16). Needs root (mount).
func TestHomeDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts a tmpfs")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	dir := t.TempDir()
	home := filepath.Join(mnt, "home")
	rec := strings.TrimSpace(mustRun(t, home, "custodian", "keygen", "-o", filepath.Join(dir, "a.key")))
	mustRun(t, home, "init", "--custodian", rec, "--threshold", "1")
	mustRun(t, home, "site", "add", "lu", "--url", filepath.Join(dir, "site"), "--jurisdiction", "LU")
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("one\n"), 0o644)
	mustRun(t, home, "snapshot", "registry", src, "--class", "internal")
	fill := filepath.Join(mnt, "fill")
	exec.Command("dd", "if=/dev/zero", "of="+fill, "bs=64k").Run() // until the disk is full
	for _, args := range [][]string{{"snapshot", "registry", src, "--class", "internal"}, {"forget", "registry", "latest"}, {"prune"}} {
		r := run(t, home, "", args...)
		if r.code != ExitError || !strings.Contains(r.stderr, "is full") || !strings.Contains(r.stderr, "hint: free space on that disk") {
			t.Fatalf("%v on a full home disk: exit %d\n%s", args, r.code, r.stderr)
		}
	}
	if out := mustRun(t, home, "--json", "snapshots", "registry"); strings.Count(out, `"id"`) != 1 {
		t.Fatalf("snapshots changed while refused:\n%s", out)
	}
	os.Remove(fill)
	mustRun(t, home, "snapshot", "registry", src, "--class", "internal")
	mustRun(t, home, "verify")
}

// TestEmptyConfigNamed: an empty embassy.yaml is named as the problem, not
// blamed on the root key (issue 11.16).
func TestEmptyConfigNamed(t *testing.T) {
	_, home, _ := setup(t)
	if err := os.WriteFile(filepath.Join(home, "embassy.yaml"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, home, "", "snapshots")
	if r.code != ExitError || !strings.Contains(r.stderr, "embassy.yaml is empty or has no 'home:' id") || strings.Contains(r.stderr, "root key") && !strings.Contains(r.stderr, "root key files") {
		t.Fatalf("empty config: exit %d\n%s", r.code, r.stderr)
	}
}

// TestLsEscapesNames: names that are not UTF-8 or hold a terminal escape
// are printed escaped (as Go's %q), byte for byte with --raw, and exactly
// in --json's path_base64 (issue 11.16).
func TestLsEscapesNames(t *testing.T) {
	t.Parallel() // own temp home and sites, no fixed ports, no environment changes
	dir, home, _ := setup(t)
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	names := []string{"caf\xff", "\x1b[31mred", "plain.txt"}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(src, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustRun(t, home, "snapshot", "registry", src, "--class", "internal")
	out := mustRun(t, home, "ls", "registry")
	for _, want := range []string{`"caf\xff"`, `"\x1b[31mred"`, "  plain.txt\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("ls does not show %s:\n%s", want, out)
		}
	}
	if strings.ContainsAny(out, "\xff\x1b") {
		t.Errorf("ls printed raw bytes:\n%q", out)
	}
	if raw := mustRun(t, home, "ls", "registry", "--raw"); !strings.Contains(raw, "  caf\xff\n") || !strings.Contains(raw, "  \x1b[31mred\n") {
		t.Errorf("ls --raw:\n%q", raw)
	}
	var rows []struct {
		Path string `json:"path"`
		Raw  []byte `json:"path_base64"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, home, "--json", "ls", "registry")), &rows); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rows {
		if string(r.Raw) == "caf\xff" {
			found = true
		}
	}
	if !found {
		t.Errorf("--json has no exact bytes of caf\\xff: %+v", rows)
	}
}

// TestSiteCheckCreate: site check on storage that does not exist yet says
// that site add creates it, and --create does (issue 11.16).
func TestSiteCheckCreate(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "nohome")
	target := filepath.Join(dir, "new", "site")
	r := run(t, home, "", "site", "check", target, "--large-mib", "1")
	if r.code != ExitError || !strings.Contains(r.stderr, "created by 'embassy site add', or by 'embassy site check --create'") {
		t.Fatalf("missing storage: exit %d\n%s", r.code, r.stderr)
	}
	if out := mustRun(t, home, "site", "check", target, "--large-mib", "1", "--create"); !strings.Contains(out, "passed all") {
		t.Fatalf("--create:\n%s", out)
	}
}

// TestRepairHintNamesTheFailedWrite: when an intact copy exists but cannot
// be written to the damaged site, the hint says so instead of claiming that
// no site holds a copy (issue 11.14).
func TestRepairHintNamesTheFailedWrite(t *testing.T) {
	if got := repairHint([]repo.RepairAction{{Site: "worm", Object: "data/x", From: "local", Error: "put: object already exists"}}); !strings.Contains(got, "an intact copy exists (at local)") || !strings.Contains(got, "site worm failed") {
		t.Fatalf("hint: %s", got)
	}
	if got := repairHint([]repo.RepairAction{{Site: "worm", Object: "data/x", Error: "no other site holds a copy"}}); !strings.Contains(got, "no site holds an intact copy") {
		t.Fatalf("hint: %s", got)
	}
}
