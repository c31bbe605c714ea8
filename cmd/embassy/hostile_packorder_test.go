package main

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A restore from daemon sites reads each pack range once, in pack order,
// and writes every blob where its files need it (internal/restorer,
// scatter.go). The host of the daemon read first damages one of its
// packs in the middle: the box read from that range does not
// authenticate, is read alone from the other daemon, and the restore is
// byte-exact with a warning naming the first. Damaged at both, the
// restore refuses, naming the file it could not restore and the check
// that failed, and that file is not restored whole.
func TestHostileDaemonPackOrderRestore(t *testing.T) {
	f := newFixture(t)
	f.run("pki", "init")
	lu, ch := f.issueSite("lu", "127.0.0.1"), f.issueSite("ch", "127.0.0.1")
	lu.start()
	defer lu.kill9()
	ch.start()
	defer ch.kill9()
	f.run("site", "add", "lu", "--url", "embassy://"+lu.addr, "--jurisdiction", "LU")
	f.run("site", "add", "ch", "--url", "embassy://"+ch.addr, "--jurisdiction", "CH")
	// The daemons alone: reads from remote sites go in pack order.
	f.run("site", "remove", "a")
	f.run("site", "remove", "b")
	// The home reads its sites in the order it lists them.
	first, second := lu, ch
	if l := f.run("site", "list"); strings.Index(l, "\nch ") < strings.Index(l, "\nlu ") {
		first, second = ch, lu
	}

	src := filepath.Join(f.dir, "src")
	rng := rand.New(rand.NewPCG(5, 9))
	files := map[string][]byte{}
	for i, n := range []int{5 << 20, 3<<20 + 7, 2 << 20, 900 << 10} {
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		files[filepath.Join("big", string(rune('a'+i))+".bin")] = b
	}
	for i := range 30 {
		files[filepath.Join("small", string(rune('a'+i%26))+strings.Repeat("x", i/26)+".txt")] = bytes.Repeat([]byte("38501012231;Tamm;Mari\n"), 1+i*37)
	}
	for p, b := range files {
		os.MkdirAll(filepath.Join(src, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(src, p), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f.run("snapshot", "registry", src, "--class", "C1-I1-A1")
	restoredSame := func(target string) {
		t.Helper()
		for p, want := range files {
			got, err := os.ReadFile(filepath.Join(target, p))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("restored %s: %d bytes (%v), want its %d bytes", p, len(got), err, len(want))
			}
		}
	}
	target := filepath.Join(f.dir, "clean")
	f.run("restore", "registry", "--target", target)
	restoredSame(target)

	// The host of the site read first flips a byte in the middle of its
	// largest pack.
	damage := func(s *hostSite) {
		t.Helper()
		var largest string
		var size int64
		filepath.WalkDir(s.store, func(p string, d os.DirEntry, err error) error {
			// substring: a path filter over the store, not output
			if err == nil && d.Type().IsRegular() && strings.Contains(filepath.ToSlash(p), "/data/") && !strings.HasPrefix(d.Name(), ".") {
				if fi, err := d.Info(); err == nil && fi.Size() > size {
					largest, size = p, fi.Size()
				}
			}
			return nil
		})
		b, err := os.ReadFile(largest)
		if err != nil || size < 1<<20 {
			t.Fatalf("largest pack at %s: %s, %d bytes, %v", s.name, largest, size, err)
		}
		b[len(b)/2] ^= 0x40
		if err := os.WriteFile(largest, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	damage(first)
	target = filepath.Join(f.dir, "one-damaged")
	r := f.try("restore", "registry", "--target", target)
	if r.code != 3 { // restored, and a site served damage (docs: exit 3)
		t.Fatalf("restore with one intact site: exit %d, want 3\n%s", r.code, r.stderr)
	}
	restoredSame(target)
	if !strings.Contains(r.stderr, "site "+first.name+" holds a damaged or unreadable copy; another site's was used") {
		t.Fatalf("no warning naming %s:\n%s", first.name, r.stderr)
	}

	damage(second)
	target = filepath.Join(f.dir, "both-damaged")
	r = f.try("restore", "registry", "--target", target)
	if r.code == 0 {
		t.Fatalf("restore with the pack damaged at both sites succeeded:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "embassy: error: restore "+target+string(os.PathSeparator)) || !strings.Contains(r.stderr, "does not authenticate") {
		t.Fatalf("the refusal does not name the file and the failed check:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "panic") {
		t.Fatalf("panic:\n%s", r.stderr)
	}
	// The file whose blob failed is not restored whole under its name.
	whole := 0
	for p, want := range files {
		if got, err := os.ReadFile(filepath.Join(target, p)); err == nil && bytes.Equal(got, want) {
			whole++
		}
	}
	if whole == len(files) {
		t.Fatal("every file restored whole although a blob was damaged at every site")
	}
}
