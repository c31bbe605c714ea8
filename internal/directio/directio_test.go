package directio

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMakeAligned(t *testing.T) {
	for _, n := range []int{1, Align - 1, Align, 3*Align + 5, 1 << 20} {
		b := Make(n)
		if len(b) != n || cap(b) != n || !Aligned(b) {
			t.Fatalf("Make(%d): len %d cap %d aligned %v", n, len(b), cap(b), Aligned(b))
		}
		if Aligned(b[1:]) {
			t.Fatalf("Make(%d)[1:] reported aligned", n)
		}
	}
	if Aligned(nil) {
		t.Fatal("an empty slice reported aligned")
	}
}

func TestSetAndWriteAt(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	fd, err := unix.Open(p, unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := Set(fd, true); err != nil {
		t.Skipf("this file system refuses O_DIRECT: %v", err)
	}
	flags, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if flags&unix.O_DIRECT == 0 {
		t.Fatal("Set(true) did not set O_DIRECT")
	}
	b := Make(2 * Align)
	for i := range b {
		b[i] = byte(i)
	}
	if err := WriteAt(fd, b, Align); err != nil {
		t.Fatal(err)
	}
	// Out of alignment: the file system's refusal, as Refused reads it.
	if err := WriteAt(fd, b[1:Align+1], 0); !Refused(err) {
		t.Fatalf("unaligned direct write: %v, want a refusal", err)
	}
	if err := Set(fd, false); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || len(got) != 3*Align || got[Align+5] != 5 {
		t.Fatalf("file holds %d bytes (%v)", len(got), err)
	}
	if Refused(errors.New("other")) || Refused(unix.EIO) {
		t.Fatal("other errors reported as refusals")
	}
}

func TestUses(t *testing.T) {
	if Enabled(Sites) || Enabled(Restore) {
		t.Fatal("the default is not off")
	}
	for in, want := range map[string]Uses{"": Default, " ": Default, "off": 0, "on": Sites | Restore, "sites": Sites, "restore": Restore, "sites, restore": Sites | Restore} {
		got, err := ParseUses(in)
		if err != nil || got != want {
			t.Errorf("ParseUses(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseUses("yes"); err == nil || err.Error() != `EMBASSY_DIRECT_IO="yes": want off, on, or a comma list of sites and restore` {
		t.Errorf("ParseUses(yes): %v", err)
	}
	SetUses(Sites)
	defer SetUses(Default)
	if !Enabled(Sites) || Enabled(Restore) || Enabled(Sites|Restore) {
		t.Fatal("SetUses(Sites) not as set")
	}
}

func TestConfigure(t *testing.T) {
	defer SetUses(Default)
	if err := Configure("sites"); err != nil || !Enabled(Sites) || Enabled(Restore) {
		t.Fatalf("sites: %v, sites %v, restore %v", err, Enabled(Sites), Enabled(Restore))
	}
	err := Configure("sometimes")
	if err == nil || err.Error() != `EMBASSY_DIRECT_IO="sometimes": want off, on, or a comma list of sites and restore; using the default (off)` {
		t.Fatalf("bad value: %v", err)
	}
	if Enabled(Sites) || Enabled(Restore) {
		t.Fatal("a bad value did not leave the default")
	}
}
