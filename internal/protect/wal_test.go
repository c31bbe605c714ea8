package protect_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/digital-embassy/embassy/internal/protect"
)

// TestSQLiteWALKeptWithoutShell: with no sqlite3 shell the capture is the
// database file and its write-ahead log. Committed transactions that live
// only in the WAL must be in what is snapshotted: a folder holding only the
// captured paths opens with every row. (Before, only the database file was
// captured and those transactions were lost.)
func TestSQLiteWALKeptWithoutShell(t *testing.T) {
	bin := sqlite3Bin(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "land.db")
	w := startLiveWriter(t, bin, db)
	w.run("pragma journal_mode=wal; pragma wal_autocheckpoint=0; create table land(id integer primary key, owner text);")
	w.run("with recursive g(i) as (select 1 union all select i+1 from g where i < 500) insert into land select i, 'owner ' || i from g;")
	if fi, err := os.Stat(db + "-wal"); err != nil || fi.Size() == 0 {
		t.Fatalf("the writer's transactions should still be in the WAL: %v", err)
	}
	want := sqlite(t, bin, db, rowsDigest)
	t.Setenv("PATH", t.TempDir()) // no sqlite3 for the capture

	c, err := protect.Open(context.Background(), protect.Source{Type: protect.KindSQLite, Path: db}, filepath.Join(dir, "work"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.Paths) != 2 || filepath.Base(c.Paths[1]) != "land.db-wal" {
		t.Fatalf("capture without the shell should hold the database and its WAL: %q", c.Paths)
	}
	// What a restore gives back: only the captured files, in a fresh folder.
	out := t.TempDir()
	for _, p := range c.Paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, filepath.Base(p)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got := sqlite(t, bin, filepath.Join(out, "land.db"), rowsDigest); got != want {
		t.Fatalf("restored copy has %q, want %q (transactions in the WAL lost)", got, want)
	}
}
