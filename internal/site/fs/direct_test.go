package fs

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/digital-embassy/embassy/internal/directio"
	"github.com/digital-embassy/embassy/internal/site"
)

// TestMain runs this package's tests with direct I/O on for sites (it is
// off for sites by default), so that the conformance suite covers it; TestDirectOff
// covers the default.
func TestMain(m *testing.M) {
	directio.SetUses(directio.Sites)
	os.Exit(m.Run())
}

// directSupported reports whether dir's file system takes O_DIRECT.
func directSupported(t *testing.T, dir string) bool {
	fd, err := unix.Open(filepath.Join(dir, "probe"), unix.O_CREAT|unix.O_WRONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

// getAll reads [off, off+n) of h with a reader handed in pieces of step
// bytes into a buffer at shift bytes past an aligned address, the two
// ways callers read: whole (io.ReadFull) and streamed (io.Copy-like).
func getRange(t *testing.T, b *Backend, h site.Handle, off, n int64, shift, step int) []byte {
	t.Helper()
	var out []byte
	err := b.Get(t.Context(), h, off, n, func(r io.Reader) error {
		buf := directio.Make(int(n) + directAlign + step)[shift:]
		for {
			end := min(len(out)+step, len(buf))
			m, err := r.Read(buf[len(out):end])
			out = buf[:len(out)+m]
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	})
	if err != nil {
		t.Fatalf("get %v [%d+%d]: %v", h, off, n, err)
	}
	return out
}

// TestDirectRoundTrip writes large objects of awkward lengths from
// aligned and unaligned buffers and reads them back whole and in ranges,
// aligned and not: the bytes are the object's, and nothing more.
func TestDirectRoundTrip(t *testing.T) {
	dir := t.TempDir()
	b, err := New(t.Context(), Config{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	want := directSupported(t, dir)
	rng := rand.New(rand.NewPCG(1, 2))
	for i, size := range []int{directMin, directMin + 1, 3<<20 + 4095, 5<<20 + 17, stageSize + directAlign} {
		for _, shift := range []int{0, 1} {
			data := directio.Make(size + directAlign)[shift : shift+size]
			for j := range data {
				data[j] = byte(rng.Uint32())
			}
			h := site.Handle{Kind: site.KindPack, Name: string(rune('a'+i)) + string(rune('0'+shift))}
			w0 := b.direct.writes.Load()
			if err := b.Put(t.Context(), h, site.Bytes(data), site.PutOptions{IfAbsent: true, Deferred: true}); err != nil {
				t.Fatal(err)
			}
			if got := b.direct.writes.Load() - w0; want && got != 1 {
				t.Fatalf("%v: %d direct writes, want 1 on a file system with O_DIRECT", h, got)
			}
			fi, err := os.Stat(filepath.Join(dir, "data", h.Name))
			if err != nil || fi.Size() != int64(size) {
				t.Fatalf("%v: stored size %v (%v), want %d", h, fi.Size(), err, size)
			}
			for _, r := range [][2]int64{{0, int64(size)}, {1, int64(size) - 1}, {directAlign, int64(size) - directAlign}, {int64(size) - directMin + 3, directMin - 3}, {12345, int64(size) - 12345 - 7}} {
				for _, rs := range []int{0, 5} {
					for _, step := range []int{size + directAlign, 32 << 10, 4097} {
						got := getRange(t, b, h, r[0], r[1], rs, step)
						if !bytes.Equal(got, data[r[0]:r[0]+r[1]]) {
							t.Fatalf("%v [%d+%d] shift %d step %d: %d bytes, not the object's", h, r[0], r[1], rs, step, len(got))
						}
					}
				}
			}
		}
	}
	if want && b.direct.reads.Load() == 0 {
		t.Fatal("no direct reads on a file system with O_DIRECT")
	}
	if err := b.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestDirectOff: with direct I/O off for sites (the default;
// EMBASSY_DIRECT_IO unset, off or restore), a site writes and reads through the page
// cache, with the same bytes.
func TestDirectOff(t *testing.T) {
	directio.SetUses(0)
	defer directio.SetUses(directio.Sites)
	b, err := New(t.Context(), Config{Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("embassy"), directMin)
	h := site.Handle{Kind: site.KindPack, Name: "p"}
	if err := b.Put(t.Context(), h, site.Bytes(data), site.PutOptions{IfAbsent: true}); err != nil {
		t.Fatal(err)
	}
	if got := getRange(t, b, h, 3, int64(len(data))-3, 0, 1<<20); !bytes.Equal(got, data[3:]) {
		t.Fatal("bytes differ")
	}
	if b.direct.writes.Load() != 0 || b.direct.reads.Load() != 0 {
		t.Fatalf("direct I/O with EMBASSY_DIRECT_IO=off: %d writes, %d reads", b.direct.writes.Load(), b.direct.reads.Load())
	}
}

// TestDirectRefused: on a file system without O_DIRECT (tmpfs before
// Linux 6.6) the same objects are written and read through the page
// cache. Run where /dev/shm is such a file system; elsewhere the refusal
// is played by turning direct I/O off after the first write.
func TestDirectRefused(t *testing.T) {
	b, err := New(t.Context(), Config{Path: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte{7, 1, 9}, directMin)
	h1 := site.Handle{Kind: site.KindPack, Name: "one"}
	if err := b.Put(t.Context(), h1, site.Bytes(data), site.PutOptions{IfAbsent: true}); err != nil {
		t.Fatal(err)
	}
	if !b.direct.refused(unix.EINVAL) || !b.direct.off.Load() {
		t.Fatal("EINVAL does not turn direct I/O off")
	}
	h2 := site.Handle{Kind: site.KindPack, Name: "two"}
	if err := b.Put(t.Context(), h2, site.Bytes(data), site.PutOptions{IfAbsent: true}); err != nil {
		t.Fatal(err)
	}
	for _, h := range []site.Handle{h1, h2} {
		if got := getRange(t, b, h, 0, int64(len(data)), 1, 1<<20); !bytes.Equal(got, data) {
			t.Fatalf("%v: bytes differ", h)
		}
	}
	// A reader whose direct read is refused (EINVAL: here a staging
	// buffer out of alignment, on a file opened with O_DIRECT) goes on
	// through the page cache with the same bytes.
	path := filepath.Join(b.root, "data", "one")
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no O_DIRECT here (%v): the refusal is the open's, covered above", err)
	}
	defer unix.Close(fd)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	odd := make([]byte, stageSize+1)[1:]
	r := &directReader{fd: fd, ra: f, d: &directIO{}, pos: 10, end: int64(len(data)), stage: &odd}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data[10:]) || !r.buffered || !r.d.off.Load() {
		t.Fatalf("refused direct read: %d bytes, err %v, buffered %v", len(got), err, r.buffered)
	}
	// Any other error surfaces.
	bad := &directReader{fd: -1, ra: f, d: &directIO{}, end: int64(len(data))}
	if _, err := io.ReadAll(bad); !errors.Is(err, unix.EBADF) || bad.d.off.Load() {
		t.Fatalf("read of a bad descriptor: %v, direct off %v", err, bad.d.off.Load())
	}
}

// TestDirectTruncatedUnderReader: a pack cut short on disk after its
// descriptor was cached (by the host, or another process) gives a direct
// read an error, never the bytes of a shorter file as the object and never
// a crash (no memory map: reads are pread).
func TestDirectTruncatedUnderReader(t *testing.T) {
	dir := t.TempDir()
	b, err := New(t.Context(), Config{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	data := bytes.Repeat([]byte("pack bytes "), 3*directMin/11)
	h := site.Handle{Kind: site.KindPack, Name: "cut"}
	if err := b.Put(t.Context(), h, site.Bytes(data), site.PutOptions{IfAbsent: true}); err != nil {
		t.Fatal(err)
	}
	if got := getRange(t, b, h, 0, int64(len(data)), 0, 1<<20); !bytes.Equal(got, data) {
		t.Fatal("bytes differ before the cut")
	}
	p := filepath.Join(dir, "data", "cut")
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, int64(len(data))/2); err != nil {
		t.Fatal(err)
	}
	for _, r := range [][2]int64{{0, int64(len(data))}, {int64(len(data)) / 2, directMin}} {
		var got []byte
		err := b.Get(t.Context(), h, r[0], r[1], func(rd io.Reader) error {
			buf := make([]byte, r[1])
			n, err := io.ReadFull(rd, buf)
			got = buf[:n]
			return err
		})
		if err == nil {
			t.Fatalf("[%d+%d] of a pack cut to half: read %d bytes and no error", r[0], r[1], len(got))
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("[%d+%d]: error %v, want unexpected EOF", r[0], r[1], err)
		}
	}
}
