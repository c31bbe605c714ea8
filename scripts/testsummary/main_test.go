package main

import (
	"strings"
	"testing"
)

// A recorded go test -json stream: one pass, one skip for a missing
// service, one intended skip, one failure, and a package with no tests.
const stream = `{"Action":"start","Package":"example.com/embassy/internal/a"}
{"Action":"run","Package":"example.com/embassy/internal/a","Test":"TestOK"}
{"Action":"output","Package":"example.com/embassy/internal/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}
{"Action":"pass","Package":"example.com/embassy/internal/a","Test":"TestOK","Elapsed":0.1}
{"Action":"run","Package":"example.com/embassy/internal/a","Test":"TestS3"}
{"Action":"output","Package":"example.com/embassy/internal/a","Test":"TestS3","Output":"=== RUN   TestS3\n"}
{"Action":"output","Package":"example.com/embassy/internal/a","Test":"TestS3","Output":"    s3_test.go:34: EMBASSY_TEST_S3_URL not set (see scripts/s3-servers.sh)\n"}
{"Action":"output","Package":"example.com/embassy/internal/a","Test":"TestS3","Output":"--- SKIP: TestS3 (0.00s)\n"}
{"Action":"skip","Package":"example.com/embassy/internal/a","Test":"TestS3","Elapsed":0}
{"Action":"run","Package":"example.com/embassy/internal/a","Test":"TestSlow"}
{"Action":"output","Package":"example.com/embassy/internal/a","Test":"TestSlow","Output":"    k_test.go:9: slow\n"}
{"Action":"skip","Package":"example.com/embassy/internal/a","Test":"TestSlow","Elapsed":0}
{"Action":"pass","Package":"example.com/embassy/internal/a","Elapsed":0.5}
{"Action":"run","Package":"example.com/embassy/internal/b","Test":"TestBad"}
{"Action":"fail","Package":"example.com/embassy/internal/b","Test":"TestBad","Elapsed":0.2}
{"Action":"fail","Package":"example.com/embassy/internal/b","Elapsed":0.3}
{"Action":"output","Package":"example.com/embassy/internal/c","Output":"?   \texample.com/embassy/internal/c\t[no test files]\n"}
{"Action":"skip","Package":"example.com/embassy/internal/c","Elapsed":0}
`

func TestSummary(t *testing.T) {
	r, err := read("unit", strings.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	a := r.pkgs["example.com/embassy/internal/a"]
	if a.pass != 1 || a.skip != 2 || a.fail != 0 {
		t.Fatalf("package a: %+v", a)
	}
	if len(r.skips) != 2 || r.skips[0].reason != "EMBASSY_TEST_S3_URL not set (see scripts/s3-servers.sh)" || r.skips[1].reason != "slow" {
		t.Fatalf("skips: %+v", r.skips)
	}
	if len(r.failed) != 1 || r.failed[0] != "example.com/embassy/internal/b TestBad" {
		t.Fatalf("failed: %q", r.failed)
	}
	if !r.pkgs["example.com/embassy/internal/c"].noTests {
		t.Fatal("package c has no tests")
	}
	var out strings.Builder
	why := report(&out, []*result{r}, nil)
	if !strings.Contains(why, "internal/b TestBad failed") || strings.Contains(why, "missing service") {
		t.Fatalf("lenient report: %q", why)
	}
	why = report(&out, []*result{r}, map[string]bool{"unit": true})
	if !strings.Contains(why, "TestS3 skipped for a missing service") || strings.Contains(why, "TestSlow") {
		t.Fatalf("strict report: %q", why)
	}
	if !strings.Contains(out.String(), "! unit   internal/a TestS3: EMBASSY_TEST_S3_URL not set") {
		t.Fatalf("skip list:\n%s", out.String())
	}
}

func TestSummaryRejectsGarbage(t *testing.T) {
	if _, err := read("unit", strings.NewReader("ok  \tpkg\t0.1s\n")); err == nil {
		t.Fatal("a plain go test log was read as a -json stream")
	}
}

func TestCoverMergesBinaries(t *testing.T) {
	// Two test binaries report the same blocks (-coverpkg): a block is
	// covered if either covered it.
	prof := `mode: set
example.com/embassy/internal/a/x.go:1.1,2.2 3 0
example.com/embassy/internal/a/x.go:3.1,4.2 1 1
example.com/embassy/internal/a/x.go:1.1,2.2 3 1
example.com/embassy/internal/b/y.go:1.1,2.2 4 0
`
	c, err := parseCover(strings.NewReader(prof))
	if err != nil {
		t.Fatal(err)
	}
	if c.stmts["example.com/embassy/internal/a"] != 4 || c.covered["example.com/embassy/internal/a"] != 4 ||
		c.stmts["example.com/embassy/internal/b"] != 4 || c.covered["example.com/embassy/internal/b"] != 0 {
		t.Fatalf("coverage: %+v", c)
	}
	if _, err := parseCover(strings.NewReader("x.go:1.1,2.2 3 0\n")); err == nil {
		t.Fatal("a profile without a mode line was accepted")
	}
}

func TestCoverTableFlagsDomainPackages(t *testing.T) {
	prof := `mode: set
example.com/embassy/internal/seal/seal.go:1.1,2.2 9 1
example.com/embassy/internal/seal/seal.go:3.1,4.2 1 0
example.com/embassy/internal/repo/repo.go:1.1,2.2 1 1
example.com/embassy/internal/repo/repo.go:3.1,4.2 1 0
example.com/embassy/internal/cli/cli.go:1.1,2.2 1 0
`
	c, err := parseCover(strings.NewReader(prof))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	printCover(&out, c)
	lines := strings.Split(out.String(), "\n")
	var rows []string
	for _, l := range lines {
		if strings.Contains(l, " stmts  internal/") {
			rows = append(rows, l)
		}
	}
	want := []string{
		"     0.0%       1 stmts  internal/cli",  // not a domain package: not flagged
		"<   50.0%       2 stmts  internal/repo", // domain, below 80%
		"    90.0%      10 stmts  internal/seal",
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Fatalf("table rows:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(out.String(), "1 domain packages below 80%: internal/repo 50.0%\n") {
		t.Fatalf("no list of low domain packages:\n%s", out.String())
	}
}
