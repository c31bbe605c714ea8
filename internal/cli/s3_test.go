package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// withPrefix inserts a fresh random prefix after the bucket of an
// s3://host:port/bucket?query URL, so every test run has its own space.
func withPrefix(t *testing.T, u string) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	base, query, _ := strings.Cut(u, "?")
	u = strings.TrimSuffix(base, "/") + "/cli-" + hex.EncodeToString(b)
	if query != "" {
		u += "?" + query
	}
	return u
}

// TestCLIOnRealS3 runs the vault end to end with a local site and a site
// on each real S3 server that scripts/s3-servers.sh started: snapshot to
// both, verify both, then restore from the S3 site alone.
func TestCLIOnRealS3(t *testing.T) {
	servers := map[string]string{"versitygw": os.Getenv("EMBASSY_TEST_S3_URL"), "seaweedfs": os.Getenv("EMBASSY_TEST_S3_SEAWEED_URL")}
	ran := false
	for name, u := range servers {
		if u == "" {
			continue
		}
		ran = true
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			home := filepath.Join(dir, "home")
			rec := strings.TrimSpace(mustRun(t, home, "custodian", "keygen", "-o", filepath.Join(dir, "a.key")))
			rec2 := strings.TrimSpace(mustRun(t, home, "custodian", "keygen", "-o", filepath.Join(dir, "b.key")))
			mustRun(t, home, "init", "--custodian", rec, "--custodian", rec2, "--threshold", "2")
			mustRun(t, home, "site", "add", "local", "--url", filepath.Join(dir, "site"), "--jurisdiction", "EE")
			s3url := withPrefix(t, u)
			mustRun(t, home, "site", "add", "abroad", "--url", s3url, "--jurisdiction", "LU")
			src := filepath.Join(dir, "src")
			os.MkdirAll(filepath.Join(src, "docs"), 0o755)
			os.WriteFile(filepath.Join(src, "register.csv"), bytes.Repeat([]byte("38501012231,Mari,Tamm,Tallinn\n"), 200000), 0o644)
			big := make([]byte, 20<<20)
			rand.Read(big)
			os.WriteFile(filepath.Join(src, "docs", "scan.bin"), big, 0o600)
			mustRun(t, home, "snapshot", "registry", src, "--class", "C2-I3-A3")
			mustRun(t, home, "verify", "--read-data", "--site", "abroad")
			// A new machine with only the S3 site and two custodians.
			home2 := filepath.Join(dir, "home2")
			mustRun(t, home2, "recover", "--site", s3url, "--name", "abroad", "--jurisdiction", "LU", "--expect-home", homeFingerprint(t, home),
				"--identity", filepath.Join(dir, "a.key"), "--identity", filepath.Join(dir, "b.key"))
			target := filepath.Join(dir, "restore")
			mustRun(t, home2, "restore", "registry", "--target", target)
			if n, err := compareTrees(src, target); err != nil || n != 2 {
				t.Fatalf("restore from %s differs: %d %v", name, n, err)
			}
			mustRun(t, home, "forget", "registry", "--keep-last", "1", "--prune")
			mustRun(t, home, "key", "shred", "registry", "--yes")
		})
	}
	if !ran {
		t.Skip("set EMBASSY_TEST_S3_URL / EMBASSY_TEST_S3_SEAWEED_URL (scripts/s3-servers.sh start) to run against real S3 servers")
	}
}

// TestCLIRetentionOnRealS3 keeps vault data undeletable with S3 object lock
// (versitygw's test bucket has it enabled), while keys stay deletable.
func TestCLIRetentionOnRealS3(t *testing.T) {
	u := os.Getenv("EMBASSY_TEST_S3_URL")
	if u == "" {
		t.Skip("set EMBASSY_TEST_S3_URL (scripts/s3-servers.sh start) to run against versitygw with object lock")
	}
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	rec := strings.TrimSpace(mustRun(t, home, "custodian", "keygen", "-o", filepath.Join(dir, "a.key")))
	mustRun(t, home, "init", "--custodian", rec, "--threshold", "1")
	s3url := withPrefix(t, u)
	mustRun(t, home, "site", "add", "worm", "--url", s3url, "--jurisdiction", "LU", "--retain-days", "1")
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "register.csv"), bytes.Repeat([]byte("38501012231,Mari,Tamm,Tallinn\n"), 1000), 0o644)
	mustRun(t, home, "snapshot", "registry", src, "--class", "internal")
	mustRun(t, home, "snapshot", "other", src, "--class", "internal")
	// Forgetting a retained snapshot is refused by the site; the data stays.
	if r := run(t, home, "", "forget", "registry", "latest"); r.code == 0 {
		t.Fatalf("forgetting a snapshot under object lock succeeded: %s", r.stdout)
	}
	var rows []snapRow
	json.Unmarshal([]byte(mustRun(t, home, "--json", "snapshots", "registry")), &rows)
	if len(rows) != 1 {
		t.Fatalf("retained snapshot gone: %+v", rows)
	}
	mustRun(t, home, "verify", "--read-data")
	// Crypto-shredding still works: keys are never retained.
	r := run(t, home, "", "key", "shred", "other", "--yes")
	if r.code != 0 && r.code != ExitDamaged {
		t.Fatalf("shred on a WORM site: %d %s", r.code, r.stderr)
	}
	if r := run(t, home, "", "restore", "other", "--target", filepath.Join(dir, "x")); r.code == 0 {
		t.Fatal("a shredded dataset restored from a WORM site")
	}
}
