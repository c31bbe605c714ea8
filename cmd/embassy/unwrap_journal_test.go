package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/vault"
)

// logSize is the size of the home's log as 'embassy log' reports it.
func (f *fixture) logSize() int {
	f.t.Helper()
	m := regexp.MustCompile(`(?m)^\d+ of (\d+) entries;`).FindStringSubmatch(f.run("log", "--limit", "1"))
	if m == nil {
		f.t.Fatal("embassy log printed no entry count")
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// An ls appends nothing to the log; its key.unwrap entry is synced to the
// pending journal before the key is used, so a kill -9 of ls right after
// loses nothing: the next command that writes the log carries it, once.
func TestCrashUnwrapJournal(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	src := filepath.Join(f.dir, "src")
	writeFile(t, filepath.Join(src, "a.txt"), "register\n")
	f.run("snapshot", "ds", src, "--class", "internal")
	before := f.logSize()
	f.run("ls", "ds@latest")
	if n := f.logSize(); n != before {
		t.Fatalf("ls appended to the log: %d -> %d entries", before, n)
	}

	f.crashAt("vault.unwrap.journaled", "ls", "ds@latest")
	b, err := os.ReadFile(filepath.Join(f.home, "log", vault.PendingFile))
	if err != nil {
		t.Fatalf("no pending journal after ls: %v", err)
	}
	pend, bad := vault.DecodePending(b)
	if len(pend) != 2 || bad != 0 {
		t.Fatalf("journal holds %d entries (%d bad), want the two ls runs' unwraps", len(pend), bad)
	}
	killed := pend[1].Details[vault.DetailRun]
	if pend[1].Kind != tlog.KindKeyUnwrap || killed == "" || killed == pend[0].Details[vault.DetailRun] {
		t.Fatalf("journal entries %+v: want key.unwrap entries of two runs", pend)
	}

	writeFile(t, filepath.Join(src, "b.txt"), "more\n")
	f.run("snapshot", "ds", src)
	var ents []tlog.Indexed
	if err := json.Unmarshal([]byte(f.run("log", "--kind", "key.unwrap", "--json")), &ents); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, e := range ents {
		if e.Details[vault.DetailRun] == killed {
			seen++
		}
	}
	if seen != 1 {
		t.Fatalf("the killed ls's unwrap is in the log %d times, want once", seen)
	}
	if _, err := os.Stat(filepath.Join(f.home, "log", vault.PendingFile)); !os.IsNotExist(err) {
		t.Errorf("journal still present after its entries were logged: %v", err)
	}
}
