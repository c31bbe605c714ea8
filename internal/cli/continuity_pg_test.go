package cli

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// pgBin finds the server binaries of the newest PostgreSQL installed:
// EMBASSY_TEST_PG_BIN, else /usr/lib/postgresql/<version>/bin (Debian).
func pgBin(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("EMBASSY_TEST_PG_BIN"); b != "" {
		return b
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	best, bestV := "", -1
	for _, d := range dirs {
		var v int
		if _, err := fmt.Sscanf(filepath.Base(filepath.Dir(filepath.Dir(d))), "%d", &v); err == nil && v > bestV {
			best, bestV = filepath.Dir(d), v
		}
	}
	if best == "" {
		t.Fatal("EMBASSY_TEST_PG=1 but no /usr/lib/postgresql/*/bin/initdb: apt-get install postgresql, or set EMBASSY_TEST_PG_BIN")
	}
	return best
}

// pgPort picks a free loopback port for a cluster. postmaster cannot take
// a listener passed in, so a port another process grabs in between makes
// pg_ctl start fail loudly (never a wrong server: the cluster is fresh).
func pgPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// pgCluster starts a throwaway PostgreSQL cluster (any version) as user
// postgres on a private port (EMBASSY_TEST_PG=1 only) and returns a stop
// function.
func pgCluster(t *testing.T, port int) (stop func()) {
	t.Helper()
	if os.Getenv("EMBASSY_TEST_PG") == "" {
		t.Skip("set EMBASSY_TEST_PG=1 to run against a throwaway PostgreSQL cluster")
	}
	bin := pgBin(t)
	d, err := os.MkdirTemp("", "embassy-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	sh := func(cmd string) error {
		out, err := exec.Command("su", "postgres", "-s", "/bin/sh", "-c", cmd).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v\n%s", cmd, err, out)
		}
		return nil
	}
	exec.Command("chown", "postgres:postgres", d).Run()
	if err := sh(fmt.Sprintf("%s/initdb -D %s/data -A trust -U postgres --no-sync -E UTF8", bin, d)); err != nil {
		t.Fatal(err)
	}
	if err := sh(fmt.Sprintf(`%s/pg_ctl -D %s/data -l %s/pg.log -w -o "-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off" start`, bin, d, d, port, d)); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			sh(fmt.Sprintf("%s/pg_ctl -D %s/data -m immediate -w stop", bin, d))
		}
	}
	t.Cleanup(stop)
	return stop
}

// TestProtectPostgres (EMBASSY_TEST_PG=1): a real pg_dump is snapshotted;
// with the server gone, the dump fails and nothing is committed; the
// restored dump loads into a fresh PostgreSQL with the same rows.
func TestProtectPostgres(t *testing.T) {
	port := pgPort(t)
	stop := pgCluster(t, port)
	psqlAt := func(port int, db string, args ...string) string {
		t.Helper()
		out, err := exec.Command("psql", append([]string{"-h", "127.0.0.1", "-p", fmt.Sprint(port), "-U", "postgres", "-d", db,
			"-v", "ON_ERROR_STOP=1", "-X", "-q", "-A", "-t"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("psql %v: %v %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	psql := func(sql string) string { t.Helper(); return psqlAt(port, "postgres", "-c", sql) }
	const digest = "select count(*) || ' ' || md5(string_agg(id || ':' || owner, ',' order by id)) from land"
	psql("create table land(id int primary key, owner text)")
	psql("insert into land select g, 'owner ' || g from generate_series(1, 5000) g")
	psql("update land set owner = E'tab\\there, quote '' and newline\\n' where id = 77")
	want := psql(digest)
	_, home, _ := setup(t)
	os.WriteFile(filepath.Join(home, "protect.yaml"), fmt.Appendf(nil,
		"datasets:\n  - name: land-db\n    source: {type: postgres, database: postgres, host: 127.0.0.1, port: %d, user: postgres, format: plain}\n    rpo: 1h\n    class: C1-I1-A1\n", port), 0o644)
	mustRun(t, home, "protect", "--once")
	stop()
	// pg_dump's two-line stderr is quoted as it is (internal/protect/capture.go),
	// and the diagnostic WARN repeats the error (internal/vault/protect.go).
	refused := `pg_dump postgres failed \(exit status 1\): pg_dump: error: connection to server at "127\.0\.0\.1", port ` + fmt.Sprint(port) + ` failed: Connection refused`
	again := "Is the server running on that host and accepting TCP/IP connections?"
	lag := func(site string) rx {
		return rx(`land-db                  ` + site + `           ` + rxMinute + `:[0-9]{2} +[0-9]+s     1h0m0s  ok`)
	}
	expectRun(t, home, ExitError, []string{"protect", "--once"}, lines{
		"job agreements: ok: 0 agreements checked",
		"job inventory: ok: 2 dataset copies at the sites; no inventory declared (datasets: in policy.yaml), only data of unknown datasets is alerted on",
		"job integrity: ok: verified (read data false): 0 damaged; home state 3 compared with 2 sites; log size 25; third locations: the other sites' signed states; 0 problems",
		"job config: ok: 0 configuration files changed",
		"job host: ok: not configured: no daemon sites take host filings",
		"job updates: ok: not configured: no daemon sites",
		"job sla: ok: 2 sites probed, 2 up",
		"job compute: ok: not configured: no agreement reserves compute and no workloads are declared",
		"job location: ok: not configured: protect.yaml names no home position (schedule.location.from)",
		"DATASET                  SITE         LATEST                        LAG        RPO  STATE",
		lag("lu"),
		lag("ch"),
	}, lines{
		rx(`time=\S+ level=WARN msg="capture failed; snapshot not committed" dataset=land-db err="` + strings.ReplaceAll(refused, `"`, `\\"`) + `\\n\\t` + regexp.QuoteMeta(again) + `"`),
		rx(`embassy: error: capture land-db: ` + refused),
		"\t" + again + " (snapshot not committed; the last good one stays the latest)",
		"embassy: hint: the previous snapshots of these datasets are intact; fix the source and run again",
	})
	var snaps []map[string]any
	json.Unmarshal([]byte(mustRun(t, home, "snapshots", "land-db", "--json")), &snaps)
	if len(snaps) != 1 {
		t.Fatalf("%d snapshots, want 1", len(snaps))
	}
	dir := t.TempDir()
	mustRun(t, home, "restore", "land-db", "--target", dir)
	dump := filepath.Join(dir, "postgres.sql")
	if _, err := os.Stat(dump); err != nil {
		t.Fatalf("restore has no dump: %v", err)
	}
	// Load the restored dump into a fresh cluster: the rows must match.
	port2 := pgPort(t)
	pgCluster(t, port2)
	psqlAt(port2, "postgres", "-f", dump)
	if got := psqlAt(port2, "postgres", "-c", digest); got != want {
		t.Fatalf("restored database: %q, want %q", got, want)
	}
}
