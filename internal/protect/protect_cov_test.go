package protect_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/archiver"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/metrics"
	"github.com/digital-embassy/embassy/internal/metrics/metricstest"
	"github.com/digital-embassy/embassy/internal/protect"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
)

// sqlite3Bin is the sqlite3 shell the tests use to build and check
// databases. Debian's sqlite3 package ships it; CI must have it.
func sqlite3Bin(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("sqlite3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("sqlite3 not found: apt-get install sqlite3")
		}
		t.Skip("sqlite3 not found (apt-get install sqlite3); CI=true makes this fatal")
	}
	return p
}

func sqlite(t *testing.T, bin, db, sql string) string {
	t.Helper()
	out, err := exec.Command(bin, "-bail", db, sql).CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3 %s %q: %v\n%s", db, sql, err, out)
	}
	return strings.TrimSpace(string(out))
}

// liveWriter is a sqlite3 shell that keeps a WAL database open, with its
// last transactions still in the WAL (no checkpoint), like a live service.
type liveWriter struct {
	run func(sql string) // runs sql and waits for the shell to finish it
}

func startLiveWriter(t *testing.T, bin, db string) *liveWriter {
	t.Helper()
	cmd := exec.Command(bin, "-bail", db)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &liveWriter{}
	t.Cleanup(func() { in.Close(); _ = cmd.Wait() })
	// The shell answers each batch with a marker line: the batch is
	// committed when the marker arrives (an event, not a sleep).
	lines := make(chan string)
	go func() {
		b := make([]byte, 4096)
		var acc string
		for {
			n, err := out.Read(b)
			acc += string(b[:n])
			for {
				i := strings.IndexByte(acc, '\n')
				if i < 0 {
					break
				}
				lines <- acc[:i]
				acc = acc[i+1:]
			}
			if err != nil {
				close(lines)
				return
			}
		}
	}()
	w.run = func(sql string) {
		t.Helper()
		if _, err := fmt.Fprintf(in, "%s\nselect 'batch-done';\n", sql); err != nil {
			t.Fatal(err)
		}
		deadline := time.After(30 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatal("sqlite3 writer exited")
				}
				if l == "batch-done" {
					return
				}
			case <-deadline:
				t.Fatal("sqlite3 writer did not answer within 30s")
			}
		}
	}
	return w
}

const rowsDigest = "select count(*) || ' ' || sum(length(owner)) from land;"

// TestSQLiteLiveCapture: a WAL database held open by a writer whose last
// transactions are still only in the WAL is captured with sqlite3's online
// backup; the copy opens, has every committed row and passes
// PRAGMA integrity_check.
func TestSQLiteLiveCapture(t *testing.T) {
	bin := sqlite3Bin(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "land.db")
	w := startLiveWriter(t, bin, db)
	w.run("pragma journal_mode=wal; pragma wal_autocheckpoint=0; create table land(id integer primary key, owner text);")
	w.run("with recursive g(i) as (select 1 union all select i+1 from g where i < 2000) insert into land select i, 'owner ' || i from g;")
	w.run("update land set owner = 'quote '' and tab\t' where id = 77; delete from land where id = 5;")
	if fi, err := os.Stat(db + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("the writer's transactions should still be in the WAL: %v", err)
	}
	want := "1999 " + sqlite(t, bin, db, "select sum(length(owner)) from land;")

	c, err := protect.Open(context.Background(), protect.Source{Type: protect.KindSQLite, Path: db}, filepath.Join(dir, "work"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Wait() != nil || len(c.Paths) != 1 || c.Stdin != nil {
		t.Fatalf("capture: %+v", c)
	}
	cp := c.Paths[0]
	if filepath.Dir(cp) != filepath.Join(dir, "work") {
		t.Fatalf("copy %s is not in the work folder", cp)
	}
	if got := sqlite(t, bin, cp, rowsDigest); got != want {
		t.Fatalf("copy has %q, want %q", got, want)
	}
	if got := sqlite(t, bin, cp, "pragma integrity_check;"); got != "ok" {
		t.Fatalf("integrity_check of the copy: %q", got)
	}
	// The writer goes on; a second capture sees the new rows.
	w.run("insert into land values (9001, 'late');")
	c2, err := protect.Open(context.Background(), protect.Source{Type: protect.KindSQLite, Path: db}, filepath.Join(dir, "work"))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if got := sqlite(t, bin, c2.Paths[0], "select owner from land where id = 9001;"); got != "late" {
		t.Fatalf("second capture: %q", got)
	}
}

// TestSQLiteCopyWithoutShell: with no sqlite3 on PATH the database is
// copied until it stops changing and its header checked; a file that is no
// SQLite database is refused.
func TestSQLiteCopyWithoutShell(t *testing.T) {
	bin := sqlite3Bin(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "reg.db")
	sqlite(t, bin, db, "create table land(id integer primary key, owner text); insert into land values (1, 'a'), (2, 'b');")
	bad := filepath.Join(dir, "bad.db")
	if err := os.WriteFile(bad, []byte(strings.Repeat("not a database ", 20)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", t.TempDir()) // no sqlite3

	c, err := protect.Open(context.Background(), protect.Source{Type: protect.KindSQLite, Path: db}, filepath.Join(dir, "work"))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if got := sqlite(t, bin, c.Paths[0], "select count(*) || group_concat(owner) from land;"); got != "2a,b" {
		t.Fatalf("copy: %q", got)
	}
	if _, err := protect.Open(context.Background(), protect.Source{Type: protect.KindSQLite, Path: bad}, filepath.Join(dir, "work")); err == nil ||
		!strings.Contains(err.Error(), "not a SQLite 3 database") {
		t.Fatalf("garbage accepted as a database: %v", err)
	}
	if _, err := protect.Open(context.Background(), protect.Source{Type: protect.KindSQLite, Path: filepath.Join(dir, "gone.db")}, filepath.Join(dir, "work")); err == nil {
		t.Fatal("a missing database was captured")
	}
}

func fakePgDump(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pg_dump")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPostgresCapture: the dump is streamed with the connection options
// given; a pg_dump that fails reports its stderr through Wait, so the
// caller never commits it.
func TestPostgresCapture(t *testing.T) {
	ok := fakePgDump(t, `printf 'ARGS %s\n' "$*"`)
	src := protect.Source{Type: protect.KindPostgres, Database: "land", Host: "db.example", Port: 5433, User: "u", Format: "plain", PgDump: ok}
	c, err := protect.Open(context.Background(), src, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c.Stdin)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if got := strings.TrimSpace(string(b)); got != "ARGS -h db.example -p 5433 -U u -w --format=plain --no-password land" {
		t.Fatalf("pg_dump arguments: %q", got)
	}
	if c.StdinName != "land.sql" {
		t.Fatalf("plain dump named %q", c.StdinName)
	}

	bad := fakePgDump(t, `printf 'PGDMP half'; echo 'connection to server lost' >&2; exit 1`)
	src = protect.Source{Type: protect.KindPostgres, Database: "land", Format: "custom", PgDump: bad}
	c, err = protect.Open(context.Background(), src, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, c.Stdin)
	err = c.Wait()
	c.Close()
	if err == nil || !strings.Contains(err.Error(), "connection to server lost") {
		t.Fatalf("failed dump: %v", err)
	}
	if c.StdinName != "land.dump" {
		t.Fatalf("custom dump named %q", c.StdinName)
	}

	// A dump abandoned before Wait is killed by Close.
	slow := fakePgDump(t, `exec sleep 600`)
	c, err = protect.Open(context.Background(), protect.Source{Type: protect.KindPostgres, Database: "x", Format: "custom", PgDump: slow}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c.Close() // returns only once the producer is gone

	if _, err := protect.Open(context.Background(), protect.Source{Type: protect.KindPostgres, Database: "x", PgDump: filepath.Join(t.TempDir(), "none")}, t.TempDir()); err == nil {
		t.Fatal("a missing pg_dump started")
	}
	if _, err := protect.Open(context.Background(), protect.Source{Type: "tape"}, t.TempDir()); err == nil {
		t.Fatal("an unknown source type was captured")
	}
}

// TestFingerprint: a folder's fingerprint changes with its content and
// stays put otherwise; an unreachable PostgreSQL gives "" (always due).
func TestFingerprint(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f := filepath.Join(dir, "a.csv")
	os.WriteFile(f, []byte("1"), 0o644)
	src := protect.Source{Type: protect.KindDir, Path: dir}
	a := protect.Fingerprint(ctx, src)
	if a == "" || protect.Fingerprint(ctx, src) != a {
		t.Fatal("an unchanged folder's fingerprint is not stable")
	}
	os.WriteFile(f, []byte("12"), 0o644)
	if protect.Fingerprint(ctx, src) == a {
		t.Fatal("a changed folder kept its fingerprint")
	}
	sq := protect.Source{Type: protect.KindSQLite, Path: f}
	b := protect.Fingerprint(ctx, sq)
	os.WriteFile(f+"-wal", []byte("wal"), 0o644)
	if protect.Fingerprint(ctx, sq) == b {
		t.Fatal("a new WAL did not change the SQLite fingerprint")
	}
	fail := filepath.Join(t.TempDir(), "psql")
	os.WriteFile(fail, []byte("#!/bin/sh\nexit 2\n"), 0o755)
	if fp := protect.Fingerprint(ctx, protect.Source{Type: protect.KindPostgres, Database: "x", Psql: fail}); fp != "" {
		t.Fatalf("unreachable PostgreSQL has fingerprint %q", fp)
	}
	lsn := filepath.Join(t.TempDir(), "psql")
	os.WriteFile(lsn, []byte("#!/bin/sh\necho 0/16B3748\n"), 0o755)
	if fp := protect.Fingerprint(ctx, protect.Source{Type: protect.KindPostgres, Database: "x", Psql: lsn}); fp == "" {
		t.Fatal("a WAL position gave no fingerprint")
	}
}

func TestParseConfig(t *testing.T) {
	c, err := protect.Parse(strings.NewReader(`datasets:
  - name: land-db
    source: {type: postgres, database: land}
    rpo: 10m
  - name: files
    source: {type: dir, path: data}
    rpo: 1h
    every: 5m
    on-change: true
`), "/etc/embassy")
	if err != nil {
		t.Fatal(err)
	}
	if c.Poll != protect.DefaultPoll {
		t.Fatalf("poll %v", c.Poll)
	}
	d, ok := c.Find("land-db")
	if !ok || d.Every != 5*time.Minute || d.Source.Format != "custom" {
		t.Fatalf("land-db defaults: %+v", d)
	}
	d, ok = c.Find("files")
	if !ok || d.Every != 5*time.Minute || d.Source.Path != "/etc/embassy/data" || !d.OnChange {
		t.Fatalf("files: %+v", d)
	}
	if _, ok := c.Find("nope"); ok {
		t.Fatal("found a dataset that is not configured")
	}
	for _, tc := range []struct{ yaml, field string }{
		{"poll: -1s\n", "poll"},
		{"datasets: [{name: '', source: {type: dir, path: x}, rpo: 1m}]", "datasets[0].name"},
		{"datasets: [{name: a, source: {type: dir, path: x}, rpo: 1m}, {name: a, source: {type: dir, path: y}, rpo: 1m}]", "datasets[1].name"},
		{"datasets: [{name: a, source: {type: dir, path: x}}]", "datasets[0].rpo"},
		{"datasets: [{name: a, source: {type: dir, path: x}, rpo: 1m, every: -1m}]", "datasets[0].every"},
		{"datasets: [{name: a, source: {type: sqlite}, rpo: 1m}]", "datasets[0].source.path"},
		{"datasets: [{name: a, source: {type: postgres}, rpo: 1m}]", "datasets[0].source.database"},
		{"datasets: [{name: a, source: {type: postgres, database: d, format: tar}, rpo: 1m}]", "datasets[0].source.format"},
		{"datasets: [{name: a, source: {type: tape}, rpo: 1m}]", "datasets[0].source.type"},
		{"datasets: [{name: a, sorce: {type: dir}, rpo: 1m}]", "sorce"},
	} {
		_, err := protect.Parse(strings.NewReader(tc.yaml), "/")
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%q: error %v does not name %s", tc.yaml, err, tc.field)
		}
	}
	p := filepath.Join(t.TempDir(), protect.FileName)
	os.WriteFile(p, []byte("datasets: [{name: a, source: {type: dir, path: rel}, rpo: 1m}]\n"), 0o644)
	c, err = protect.Load(p)
	if err != nil || c.Datasets[0].Source.Path != filepath.Join(filepath.Dir(p), "rel") {
		t.Fatalf("load: %v %+v", err, c)
	}
	if _, err := protect.Load(filepath.Join(t.TempDir(), "none.yaml")); err == nil {
		t.Fatal("a missing config loaded")
	}
}

// memVault is a real repository on two in-memory sites and a meta-only
// home mirror.
type memVault struct {
	lu, ch, meta *mem.Backend
	r            *repo.Repo
}

func newMemVault(t *testing.T) *memVault {
	t.Helper()
	v := &memVault{
		lu:   mem.New(site.Properties{Name: "lu", Jurisdiction: "LU"}),
		ch:   mem.New(site.Properties{Name: "ch", Jurisdiction: "CH"}),
		meta: mem.New(site.Properties{Name: "home"}),
	}
	_, rec, err := keys.GenerateIdentity(true)
	if err != nil {
		t.Fatal(err)
	}
	sites := []*repo.Site{
		{Name: "lu", Jurisdiction: "LU", Backend: v.lu},
		{Name: "ch", Jurisdiction: "CH", Backend: v.ch},
		{Name: "home", Backend: v.meta, MetaOnly: true},
	}
	root, home, err := repo.Init(context.Background(), repo.InitOptions{Custodians: []repo.Custodian{{Recipient: rec}}, Threshold: 1, Sites: sites})
	if err != nil {
		t.Fatal(err)
	}
	v.r, err = repo.Open(context.Background(), repo.Options{Home: home, Root: root, Sites: sites, PackSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// take is a Taker that snapshots a dir source at the given time.
func (v *memVault) take(t *testing.T, now func() time.Time) protect.Taker {
	return func(ctx context.Context, ds protect.Dataset) (*protect.Taken, error) {
		dk, _, err := v.r.EnsureDataset(ctx, ds.Name)
		if err != nil {
			return nil, err
		}
		d, err := v.r.OpenDataset(ctx, dk)
		if err != nil {
			return nil, err
		}
		res, err := archiver.Run(ctx, d, archiver.Options{Paths: []string{ds.Source.Path}})
		if err != nil {
			return nil, err
		}
		s := &repo.Snapshot{Paths: []string{ds.Source.Path}, Tree: res.Tree, Root: res.Root, Stats: res.Stats, Time: now()}
		id, err := d.SaveSnapshot(ctx, s)
		if err != nil {
			return nil, err
		}
		return &protect.Taken{Dataset: ds.Name, ID: id, Time: s.Time, Stats: res.Stats}, nil
	}
}

// TestRunnerCycle drives the runner through its decisions with a clock
// the test holds: the first cycle snapshots; an unchanged source is not
// snapshotted again before its interval; a change is; a lag past the RPO
// fires one alert per site and a new snapshot resolves it; a failed
// snapshot is counted and reported.
func TestRunnerCycle(t *testing.T) {
	ctx := context.Background()
	v := newMemVault(t)
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "r.csv"), []byte("id,owner\n1,a\n"), 0o644)
	var mu sync.Mutex
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	cfg := &protect.Config{Poll: time.Second, Datasets: []protect.Dataset{{
		Name: "reg", Source: protect.Source{Type: protect.KindDir, Path: src}, Every: time.Hour, OnChange: true, RPO: 2 * time.Hour}}}
	var taken []*protect.Taken
	var alerts []protect.Alert
	failNext := false
	take := v.take(t, clock)
	rn := &protect.Runner{Repo: v.r, Config: cfg, Now: clock,
		Take: func(ctx context.Context, ds protect.Dataset) (*protect.Taken, error) {
			if failNext {
				return nil, fmt.Errorf("capture failed")
			}
			return take(ctx, ds)
		},
		OnTaken: func(tk *protect.Taken) { taken = append(taken, tk) },
		OnAlert: func(a protect.Alert) { alerts = append(alerts, a) },
	}
	if errs := rn.Cycle(ctx, false); len(errs) != 0 || len(taken) != 1 {
		t.Fatalf("first cycle: %v, %d taken", errs, len(taken))
	}
	lags := rn.Lags()
	if len(lags) != 2 || lags[0].Exceeded || lags[0].Latest != now || lags[0].Snapshot != taken[0].ID.String() {
		t.Fatalf("lags: %+v", lags)
	}
	advance(10 * time.Minute)
	if rn.Cycle(ctx, false); len(taken) != 1 {
		t.Fatal("an unchanged source was snapshotted before its interval")
	}
	os.WriteFile(filepath.Join(src, "r.csv"), []byte("id,owner\n1,a\n2,b\n"), 0o644)
	if rn.Cycle(ctx, false); len(taken) != 2 {
		t.Fatal("a changed source was not snapshotted")
	}
	// Snapshots fail from now on; three hours later every site lags past
	// the RPO: one firing alert per site, once.
	failNext = true
	advance(3 * time.Hour)
	if errs := rn.Cycle(ctx, false); len(errs) != 1 || len(taken) != 2 {
		t.Fatalf("failing cycle: %v, %d taken", errs, len(taken))
	}
	rn.Cycle(ctx, false)
	if len(alerts) != 2 || alerts[0].State != "firing" || alerts[1].State != "firing" || alerts[0].Site == alerts[1].Site {
		t.Fatalf("alerts: %+v", alerts)
	}
	reg := metrics.NewBareRegistry()
	reg.MustRegister(rn)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	m := metricstest.Families{}
	for _, f := range fams {
		m[f.GetName()] = f
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"embassy_rpo_exceeded", []string{"dataset", "reg", "site", "lu"}, 1},
		{"embassy_replication_lag_seconds", []string{"dataset", "reg", "site", "ch"}, 10800},
		{"embassy_rpo_seconds", []string{"dataset", "reg"}, 7200},
		{"embassy_protect_snapshots_total", []string{"dataset", "reg", "result", "ok"}, 2},
		{"embassy_protect_snapshots_total", []string{"dataset", "reg", "result", "failed"}, 2},
	} {
		if got := m.Value(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	failNext = false
	if rn.Cycle(ctx, true); len(taken) != 3 || len(alerts) != 4 || alerts[2].State != "resolved" || alerts[3].State != "resolved" {
		t.Fatalf("after recovery: %d taken, alerts %+v", len(taken), alerts)
	}
}

// TestLagsSiteDown: a site that cannot be listed, or that never opened,
// has an infinite lag that exceeds the RPO, with the reason.
func TestLagsSiteDown(t *testing.T) {
	ctx := context.Background()
	v := newMemVault(t)
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "r.csv"), []byte("x"), 0o644)
	now := time.Now()
	if _, err := v.take(t, func() time.Time { return now })(ctx, protect.Dataset{Name: "reg", Source: protect.Source{Type: protect.KindDir, Path: src}}); err != nil {
		t.Fatal(err)
	}
	for _, s := range v.r.Sites() {
		if s.Name == "ch" {
			s.Backend = nil
		}
	}
	lags, err := protect.NewLagger().Lags(ctx, v.r, "reg", time.Hour, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]protect.SiteLag{}
	for _, l := range lags {
		by[l.Site] = l
	}
	if l := by["lu"]; l.Exceeded || l.Lag != time.Minute {
		t.Fatalf("lu: %+v", l)
	}
	if l := by["ch"]; !l.Exceeded || l.LagSec != -1 || !strings.Contains(l.Error, "site unavailable") {
		t.Fatalf("ch: %+v", l)
	}
	// A dataset that was never snapshotted lags everywhere.
	lags, err = protect.NewLagger().Lags(ctx, v.r, "never", time.Hour, now)
	if err != nil || len(lags) != 2 || !lags[0].Exceeded || lags[0].LagSec != -1 {
		t.Fatalf("never-snapshotted dataset: %v %+v", err, lags)
	}
}
