package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pgCluster starts a throwaway PostgreSQL 15 cluster as user postgres on a
// private port (EMBASSY_TEST_PG=1 only) and returns a stop function.
func pgCluster(t *testing.T, port int) (stop func()) {
	t.Helper()
	if os.Getenv("EMBASSY_TEST_PG") == "" {
		t.Skip("set EMBASSY_TEST_PG=1 to run against a throwaway PostgreSQL cluster")
	}
	bin := "/usr/lib/postgresql/15/bin"
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
// with the server gone, the dump fails and nothing is committed.
func TestProtectPostgres(t *testing.T) {
	const port = 25433
	stop := pgCluster(t, port)
	psql := func(sql string) {
		out, err := exec.Command("psql", "-h", "127.0.0.1", "-p", fmt.Sprint(port), "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-c", sql).CombinedOutput()
		if err != nil {
			t.Fatalf("psql %s: %v %s", sql, err, out)
		}
	}
	psql("create table land(id int primary key, owner text)")
	psql("insert into land select g, 'owner ' || g from generate_series(1, 5000) g")
	_, home, _ := setup(t)
	os.WriteFile(filepath.Join(home, "protect.yaml"), fmt.Appendf(nil,
		"datasets:\n  - name: land-db\n    source: {type: postgres, database: postgres, host: 127.0.0.1, port: %d, user: postgres, format: plain}\n    rpo: 1h\n    class: C1-I1-A1\n", port), 0o644)
	mustRun(t, home, "protect", "--once")
	stop()
	r := run(t, home, "", "protect", "--once")
	if r.code == 0 || !strings.Contains(r.stderr, "not committed") {
		t.Fatalf("dump with the server gone: exit %d %s", r.code, r.stderr)
	}
	var snaps []map[string]any
	json.Unmarshal([]byte(mustRun(t, home, "snapshots", "land-db", "--json")), &snaps)
	if len(snaps) != 1 {
		t.Fatalf("%d snapshots, want 1", len(snaps))
	}
	dir := t.TempDir()
	mustRun(t, home, "restore", "land-db", "--target", dir)
	b, _ := os.ReadFile(filepath.Join(dir, "postgres.sql"))
	if !strings.Contains(string(b), "owner 5000") {
		t.Fatalf("restored dump lacks the data (%d bytes)", len(b))
	}
}
