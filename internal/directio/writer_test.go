package directio

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// stageSize is the restorer's staging buffer size.
const stageSize = 1 << 20

// written opens a new file in a temp folder with O_DIRECT set, writes
// data to it through a Writer in pieces of step bytes and returns
// what the file holds.
func written(t *testing.T, data []byte, step int, stage []byte) ([]byte, *Writer) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	fd, err := unix.Open(p, unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	out := &Writer{FD: fd, Buffered: Set(fd, true) != nil, Stage: stage}
	for b := data; len(b) > 0; {
		n := min(step, len(b))
		if err := out.Write(b[:n]); err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
	if err := out.Finish(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return got, out
}

// TestWriter writes files of lengths around the block and staging
// sizes: each holds exactly its bytes (no padding left behind).
func TestWriter(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, size := range []int{1, Align - 1, Align, Min + 1, stageSize, stageSize + 1, 2*stageSize + Align - 1} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		for _, step := range []int{size, 1<<20 + 3, 4097} {
			got, out := written(t, data, step, Make(stageSize))
			if !bytes.Equal(got, data) {
				t.Fatalf("size %d step %d: file holds %d bytes, not the data", size, step, len(got))
			}
			if out.Buffered {
				t.Fatalf("size %d: fell back to the page cache on a file system that takes O_DIRECT", size)
			}
		}
	}
}

// TestWriterRefused: a direct write the file system refuses (EINVAL,
// played by a staging buffer out of alignment) is written again through
// the page cache, and so is the rest of the file.
func TestWriterRefused(t *testing.T) {
	data := bytes.Repeat([]byte("refused "), 3*stageSize/8+5)
	odd := make([]byte, stageSize+1)[1:]
	got, out := written(t, data, 100_000, odd)
	if !bytes.Equal(got, data) {
		t.Fatalf("file holds %d bytes, not the %d written", len(got), len(data))
	}
	if !out.Buffered {
		t.Fatal("a refused direct write did not switch to the page cache")
	}
}
