package tlog

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	s3site "github.com/digital-embassy/embassy/internal/site/s3"
)

func TestParseStorage(t *testing.T) {
	st, err := ParseStorage([]byte("# the log at scale\ns3 s3://127.0.0.1:9000/logs/home-1?tls=false\nmysql u:p@tcp(127.0.0.1:3306)/tessera\n"))
	if err != nil {
		t.Fatal(err)
	}
	if st.S3.Endpoint != "127.0.0.1:9000" || st.S3.Bucket != "logs" || st.S3.Prefix != "home-1" || !st.S3.Insecure || st.DSN != "u:p@tcp(127.0.0.1:3306)/tessera" {
		t.Fatalf("%+v", st)
	}
	for _, bad := range []string{"", "s3 s3://h/logs\n", "mysql x\n", "s3 http://h/b\nmysql x\n", "disk /x\n"} {
		if _, err := ParseStorage([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if st, err := LoadStorage(t.TempDir()); st != nil || err != nil {
		t.Fatalf("no storage file: %v %v", st, err)
	}
}

// awsStorage returns storage on the real S3 server and MariaDB named by
// EMBASSY_TEST_S3_URL and EMBASSY_TEST_MYSQL_DSN (scripts/s3-servers.sh,
// scripts/mariadb.sh), in a fresh bucket prefix and a fresh database.
func awsStorage(t *testing.T) *AWSStorage {
	t.Helper()
	u, dsn := os.Getenv("EMBASSY_TEST_S3_URL"), os.Getenv("EMBASSY_TEST_MYSQL_DSN")
	if u == "" || dsn == "" {
		t.Skip("EMBASSY_TEST_S3_URL and EMBASSY_TEST_MYSQL_DSN not set (scripts/s3-servers.sh, scripts/mariadb.sh)")
	}
	cfg, err := s3site.ParseConfig(u)
	if err != nil {
		t.Fatal(err)
	}
	var rb [6]byte
	rand.Read(rb[:])
	id := hex.EncodeToString(rb[:])
	cfg.Prefix = filepath.Join(cfg.Prefix, "tlog-test", id)

	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	mc.DBName = "tlog_" + id
	if _, err := db.Exec("CREATE DATABASE " + mc.DBName); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Exec("DROP DATABASE " + mc.DBName)
		db.Close()
	})
	return &AWSStorage{S3: cfg, DSN: mc.FormatDSN()}
}

// TestAWSAppendReadReceiptBundle runs the POSIX test's checks on tessera's
// AWS driver (S3 tiles, MySQL sequencing), plus a reopen by a second
// process-like instance that continues the same tree.
func TestAWSAppendReadReceiptBundle(t *testing.T) {
	st := awsStorage(t)
	te := newTestEnv(t, "home", "lu")
	ctx := context.Background()
	open := func() *Log {
		s, _, err := LoadOrCreateKey(te.dir, te.origin)
		if err != nil {
			t.Fatal(err)
		}
		l, err := Open(ctx, filepath.Join(te.dir, "log"), Options{Signer: s, Policy: te.policy, Local: te.local,
			PublishTimeout: 30 * time.Second, WitnessTimeout: 30 * time.Second, AWS: st})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := open()
	idx, cp, err := l.Append(ctx, testEntry(0))
	if err != nil {
		t.Fatal(err)
	}
	if idx != 0 {
		t.Fatalf("first index %d", idx)
	}
	if got := te.policy.Cosigners(cp); len(got) != 3 {
		t.Fatalf("cosigners %v, want home, home-pq, lu", got)
	}
	const n = 300
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := l.Append(ctx, testEntry(i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// A new instance continues the same tree.
	l = open()
	if idx, _, err := l.Append(ctx, testEntry(n)); err != nil || idx != n {
		t.Fatalf("append after reopen: index %d, %v", idx, err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}

	r, err := st.Reader(te.policy)
	if err != nil {
		t.Fatal(err)
	}
	c, ents, err := r.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Size != n+1 || len(ents) != n+1 {
		t.Fatalf("size %d, %d entries", c.Size, len(ents))
	}
	seen := map[string]bool{}
	for _, e := range ents {
		seen[e.Entry.Dataset] = true
	}
	if len(seen) != n+1 {
		t.Fatalf("%d distinct entries, want %d", len(seen), n+1)
	}
	rc, err := r.Receipt(ctx, 257)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := VerifyReceipt(rc, te.policy)
	if err != nil || got.Index != 257 {
		t.Fatalf("verify receipt: %v %d", err, got.Index)
	}
	b, err := r.Export(ctx, testEntry(10).Time, testEntry(20).Time, te.signer(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, es, err := VerifyBundle(b, te.policy); err != nil || len(es) < 11 {
		t.Fatalf("bundle: %d entries, %v", len(es), err)
	}
	if _, err := r.Check(ctx); err != nil {
		t.Fatal(err)
	}
}
