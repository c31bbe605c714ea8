package restorer

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/digital-embassy/embassy/internal/directio"
)

// TestMain runs this package's tests with direct restore writes on (they
// are off by default), so that every restore test of a large file covers
// them.
func TestMain(m *testing.M) {
	directio.SetUses(directio.Restore)
	os.Exit(m.Run())
}

// written opens a new file in a temp folder with O_DIRECT set, writes
// data to it through a directOut in pieces of step bytes and returns
// what the file holds.
func written(t *testing.T, data []byte, step int, stage []byte) ([]byte, *directOut) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	fd, err := unix.Open(p, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	out := &directOut{fd: fd, buffered: directio.Set(fd, true) != nil, stage: stage}
	for b := data; len(b) > 0; {
		n := min(step, len(b))
		if err := out.write(b[:n]); err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
	if err := out.finish(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return got, out
}

// TestDirectOut writes files of lengths around the block and staging
// sizes: each holds exactly its bytes (no padding left behind).
func TestDirectOut(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, size := range []int{1, directio.Align - 1, directio.Align, directio.Min + 1, stageSize, stageSize + 1, 2*stageSize + directio.Align - 1} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		for _, step := range []int{size, 1<<20 + 3, 4097} {
			got, out := written(t, data, step, directio.Make(stageSize))
			if !bytes.Equal(got, data) {
				t.Fatalf("size %d step %d: file holds %d bytes, not the data", size, step, len(got))
			}
			if out.buffered {
				t.Fatalf("size %d: fell back to the page cache on a file system that takes O_DIRECT", size)
			}
		}
	}
}

// TestDirectOutRefused: a direct write the file system refuses (EINVAL,
// played by a staging buffer out of alignment) is written again through
// the page cache, and so is the rest of the file.
func TestDirectOutRefused(t *testing.T) {
	data := bytes.Repeat([]byte("refused "), 3*stageSize/8+5)
	odd := make([]byte, stageSize+1)[1:]
	got, out := written(t, data, 100_000, odd)
	if !bytes.Equal(got, data) {
		t.Fatalf("file holds %d bytes, not the %d written", len(got), len(data))
	}
	if !out.buffered {
		t.Fatal("a refused direct write did not switch to the page cache")
	}
}
