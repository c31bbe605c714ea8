package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCLIWORMOnRealS3 runs the object-lock semantics of docs/formats/worm.md
// against versitygw with object lock (scripts/s3-servers.sh): a host's
// delete marker is repaired by a new version, forget inside retention is
// refused whole, and prune defers what the bucket retains, leaving verify
// clean at every site.
func TestCLIWORMOnRealS3(t *testing.T) {
	u := os.Getenv("EMBASSY_TEST_S3_URL")
	if u == "" {
		t.Skip("set EMBASSY_TEST_S3_URL (scripts/s3-servers.sh start) to run against versitygw with object lock")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is needed to act as the host (a plain S3 DELETE): install curl")
	}
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	rec := strings.TrimSpace(mustRun(t, home, "custodian", "keygen", "-o", filepath.Join(dir, "a.key")))
	mustRun(t, home, "init", "--custodian", rec, "--threshold", "1")
	local := filepath.Join(dir, "site")
	mustRun(t, home, "site", "add", "local", "--url", local, "--jurisdiction", "EE")
	s3url := withPrefix(t, u)
	mustRun(t, home, "site", "add", "worm", "--url", s3url, "--jurisdiction", "LU", "--retain-days", "1")
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "register.csv"), bytes.Repeat([]byte("38501012231,Mari,Tamm,Tallinn\n"), 1000), 0o644)
	mustRun(t, home, "snapshot", "registry", src, "--class", "internal")
	os.WriteFile(filepath.Join(src, "land.csv"), bytes.Repeat([]byte("1001:001:0001,Tartu\n"), 1000), 0o644)
	mustRun(t, home, "snapshot", "registry", src, "--class", "internal")

	// The host deletes a pack without naming a version: a delete marker.
	packs, _ := filepath.Glob(filepath.Join(local, "data", "*", "*", "*"))
	if len(packs) == 0 {
		t.Fatal("no packs at the local site")
	}
	name, _ := filepath.Rel(filepath.Join(local, "data"), packs[0])
	hostDelete(t, s3url, "data/"+filepath.ToSlash(name))
	obj := regexp.QuoteMeta("data/" + filepath.ToSlash(name))
	expectRun(t, home, ExitDamaged, []string{"verify", "--site", "worm"}, lines{
		"verified structure of 1 dataset, 2 snapshots at worm: 3 packs",
		rx(`DAMAGED site=worm object=` + obj + `: missing \(affects snapshots [0-9a-f]{8}(, [0-9a-f]{8})?\)`),
	}, lines{
		"embassy: error: 1 problem found",
		"embassy: hint: restore still works while another site holds an intact copy; 'embassy repair' rebuilds damaged or missing objects from it (a site that cannot be reached must be fixed first)",
	})
	expectRun(t, home, ExitOK, []string{"repair", "--site", "worm"}, lines{
		rx(`repaired    site=worm ` + obj + ` from local`),
		"1 problem found, 1 repaired, 0 remaining",
	}, nil)
	mustRun(t, home, "verify", "--read-data")

	// Forget inside retention: refused whole, nothing deleted anywhere.
	expectRun(t, home, ExitDamaged, []string{"forget", "registry", "--keep-last", "1", "--prune"}, nil, lines{
		rx(`embassy: error: snapshot [0-9a-f]{8} of registry is retained at site worm until ` + rxTime + ` \(object lock, --retain-days 1\)`),
		"embassy: hint: forget it after that date; to make it unreadable now, use 'embassy key shred' (keys are never retained)",
	})
	mustRun(t, home, "verify", "--read-data")

	// Prune merges the indexes; the retained ones are deferred at every site.
	expectRun(t, home, ExitOK, []string{"prune"}, lines{
		"registry: 2 snapshots, 4 blobs used, 0 unused; packs: 4 kept, 0 deleted, 0 repacked, 0 orphans removed; 0 B freed",
		"registry: 2 objects deferred under object lock: a later prune deletes them once their retention has passed",
	}, nil)
	mustRun(t, home, "verify", "--read-data")
	mustRun(t, home, "restore", "registry", "--target", filepath.Join(dir, "r"))
}

// hostDelete issues a plain S3 DeleteObject for key under the site's
// prefix, signed with the test credentials, as the host would.
func hostDelete(t *testing.T, s3url, key string) {
	t.Helper()
	base, _, _ := strings.Cut(strings.TrimPrefix(s3url, "s3://"), "?")
	id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || secret == "" {
		t.Fatal("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set (scripts/s3-servers.sh writes them)")
	}
	out, err := exec.Command("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE",
		"-H", "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"--aws-sigv4", "aws:amz:us-east-1:s3", "--user", id+":"+secret,
		"http://"+base+"/"+key).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "204" {
		t.Fatalf("host delete of %s: %v %s", key, err, out)
	}
}
