// Package sample generates a deterministic synthetic national registry: a
// population register, a land register and a folder of scanned-document-like
// binaries. It feeds `embassy quickstart` and tests with realistic data that
// contains no real person.
//
// Output is byte-for-byte reproducible for given Options, including file
// modes and modification times, so snapshots of it are reproducible too. All
// randomness comes from math/rand/v2 PCG and ChaCha8 streams reduced with
// integer arithmetic only, so the output does not depend on the platform.
package sample

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"time"
)

// Options controls the size and content of a generation. Zero fields take
// their defaults (see DefaultOptions); negative fields are an error.
type Options struct {
	Rows      int    // population register rows, default 100_000
	Documents int    // scanned-document-like binaries, default 40
	DocSize   int    // average document size in bytes, default 256 KiB (sizes vary from DocSize/8 to about 3.6*DocSize)
	Seed      uint64 // 0 is a valid seed and the default
}

// Stats describes what Generate wrote.
type Stats struct {
	Files     int   // regular files written
	Bytes     int64 // total size of those files
	Rows      int   // population register rows, header excluded
	Documents int   // document files
}

// Limits on Options, to keep a typo from filling a disk.
const (
	MaxRows      = 10_000_000
	MaxDocuments = 100_000
	MaxDocSize   = 64 << 20
)

// Names of the generated files, relative to the target directory.
const (
	ReadmeFile     = "README.txt"
	PopulationFile = "population-register.csv"
	LandFile       = "land-register.csv"
	DocumentsDir   = "documents"
)

// ErrForeign is returned (wrapped) when the target directory holds anything
// other than a previous generation with the same options.
var ErrForeign = errors.New("directory is neither empty nor a sample generated with the same options")

// DefaultOptions returns the options used by `embassy quickstart`.
// Generate treats a zero Options the same way.
func DefaultOptions() Options {
	return Options{Rows: 100_000, Documents: 40, DocSize: 256 << 10, Seed: 0}
}

func (o Options) normalize() (Options, error) {
	d := DefaultOptions()
	switch {
	case o.Rows < 0 || o.Rows > MaxRows:
		return o, fmt.Errorf("sample: rows %d out of range 0..%d", o.Rows, MaxRows)
	case o.Documents < 0 || o.Documents > MaxDocuments:
		return o, fmt.Errorf("sample: documents %d out of range 0..%d", o.Documents, MaxDocuments)
	case o.DocSize < 0 || o.DocSize > MaxDocSize:
		return o, fmt.Errorf("sample: document size %d out of range 0..%d", o.DocSize, MaxDocSize)
	}
	if o.Rows == 0 {
		o.Rows = d.Rows
	}
	if o.Documents == 0 {
		o.Documents = d.Documents
	}
	if o.DocSize == 0 {
		o.DocSize = d.DocSize
	}
	return o, nil
}

// Generate writes a synthetic registry into dir, creating it if missing:
//
//	README.txt                 one paragraph saying the data is synthetic (and how it was made)
//	population-register.csv    header + Rows people
//	land-register.csv          about Rows/10 parcels owned by those people
//	documents/YYYY/*.pdf.sim   Documents incompressible "scans" with a fake PDF header
//
// dir must be empty or hold a previous generation with the same options, in
// which case it is rewritten identically; anything else fails with ErrForeign
// before a byte is written. Files get mode 0644, subdirectories 0755, and
// every file and directory, dir included, gets a fixed modification time
// derived from the seed.
func Generate(dir string, opt Options) (Stats, error) {
	opt, err := opt.normalize()
	if err != nil {
		return Stats{}, err
	}
	g := newGenerator(opt)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Stats{}, fmt.Errorf("sample: %w", err)
	}
	if err := g.checkDir(dir); err != nil {
		return Stats{}, err
	}

	var st Stats
	write := func(rel string, mtime int64, fill func(w *bufio.Writer) error) error {
		n, err := writeFile(filepath.Join(dir, filepath.FromSlash(rel)), mtime, fill)
		if err != nil {
			return fmt.Errorf("sample: %w", err)
		}
		st.Files++
		st.Bytes += n
		return nil
	}
	// README first: it marks the directory as a sample, so an interrupted
	// generation is recognised and completed by the next call.
	if err := write(ReadmeFile, g.mtime, func(w *bufio.Writer) error {
		_, err := w.WriteString(g.readme())
		return err
	}); err != nil {
		return Stats{}, err
	}
	var ppl people
	if err := write(PopulationFile, g.mtime, func(w *bufio.Writer) error {
		var err error
		ppl, err = g.population(w)
		return err
	}); err != nil {
		return Stats{}, err
	}
	if err := write(LandFile, g.mtime, func(w *bufio.Writer) error {
		return g.land(w, ppl)
	}); err != nil {
		return Stats{}, err
	}
	for _, y := range g.years {
		if err := mkdir(filepath.Join(dir, DocumentsDir, strconv.Itoa(y))); err != nil {
			return Stats{}, err
		}
	}
	for i := range g.docs {
		d := &g.docs[i]
		if err := write(d.path, d.mtime, func(w *bufio.Writer) error {
			return g.document(w, i)
		}); err != nil {
			return Stats{}, err
		}
	}
	// Directory times last, deepest first: creating entries touches them.
	dirs := make([]string, 0, len(g.years)+2)
	for _, y := range g.years {
		dirs = append(dirs, filepath.Join(dir, DocumentsDir, strconv.Itoa(y)))
	}
	dirs = append(dirs, filepath.Join(dir, DocumentsDir), dir)
	for i, p := range dirs {
		if i < len(dirs)-1 { // the target directory's mode is the caller's
			if err := os.Chmod(p, 0o755); err != nil {
				return Stats{}, fmt.Errorf("sample: %w", err)
			}
		}
		if err := chtimes(p, g.mtime); err != nil {
			return Stats{}, err
		}
	}
	st.Rows = opt.Rows
	st.Documents = opt.Documents
	return st, nil
}

// checkDir refuses dir unless it is empty or holds only paths a generation
// with g's options would write, including an identical README.
func (g *generator) checkDir(dir string) error {
	files := map[string]bool{ReadmeFile: true, PopulationFile: true, LandFile: true}
	for _, d := range g.docs {
		files[d.path] = true
	}
	dirs := map[string]bool{DocumentsDir: true}
	for _, y := range g.years {
		dirs[path.Join(DocumentsDir, strconv.Itoa(y))] = true
	}
	foreign := func(rel, why string) error {
		return fmt.Errorf("sample: %s: %s: %w", filepath.Join(dir, filepath.FromSlash(rel)), why, ErrForeign)
	}
	empty := true
	var walk func(rel string) error
	walk = func(rel string) error {
		ents, err := os.ReadDir(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			return fmt.Errorf("sample: %w", err)
		}
		for _, e := range ents {
			empty = false
			p := path.Join(rel, e.Name())
			switch {
			case dirs[p] && e.IsDir():
				if err := walk(p); err != nil {
					return err
				}
			case files[p] && e.Type().IsRegular():
			default:
				return foreign(p, "not part of this sample")
			}
		}
		return nil
	}
	if err := walk(""); err != nil {
		return err
	}
	if empty {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(dir, ReadmeFile))
	if errors.Is(err, fs.ErrNotExist) {
		return foreign(ReadmeFile, "missing")
	}
	if err != nil {
		return fmt.Errorf("sample: %w", err)
	}
	if string(b) != g.readme() {
		return foreign(ReadmeFile, "sample generated with other options")
	}
	return nil
}

func (g *generator) readme() string {
	o := g.opt
	return fmt.Sprintf("This directory holds a synthetic national registry generated by "+
		"Digital Embassy (embassy quickstart) for demonstrations and tests: every person, "+
		"personal identification code, address, land parcel and document in it is invented "+
		"by a seeded pseudo-random generator, any resemblance to real people or property is "+
		"coincidental, and the documents are random bytes behind a fake header, not real scans "+
		"(rows=%d documents=%d docsize=%d seed=%d).\n", o.Rows, o.Documents, o.DocSize, o.Seed)
}

func mkdir(p string) error {
	if err := os.MkdirAll(p, 0o755); err != nil {
		return fmt.Errorf("sample: %w", err)
	}
	return nil
}

func chtimes(p string, unix int64) error {
	t := unixTime(unix)
	if err := os.Chtimes(p, t, t); err != nil {
		return fmt.Errorf("sample: %w", err)
	}
	return nil
}

// writeFile (re)writes p with mode 0644 and the given mtime and returns its size.
func writeFile(p string, mtime int64, fill func(w *bufio.Writer) error) (int64, error) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, err
	}
	cw := &countWriter{w: f}
	w := bufio.NewWriterSize(cw, 256<<10)
	err = fill(w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Chmod(0o644) // independent of umask and of a previous mode
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	if err := chtimes(p, mtime); err != nil {
		return 0, err
	}
	return cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// rng wraps a PCG stream with integer-only helpers, so that output does not
// depend on math/rand's derived methods or on floating point.
type rng struct{ src *rand.PCG }

func newRNG(seed, stream uint64) *rng { return &rng{rand.NewPCG(seed, stream)} }

func (r *rng) u64() uint64 { return r.src.Uint64() }

// n returns a value in [0, n) for n > 0.
func (r *rng) n(n int) int {
	hi, _ := bits.Mul64(r.src.Uint64(), uint64(n))
	return int(hi)
}

// between returns a value in [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + r.n(hi-lo+1) }

// percent reports true with probability p/100.
func (r *rng) percent(p int) bool { return r.n(100) < p }

// Stream identifiers keep the parts of a generation independent, so that for
// instance the document layout does not depend on Rows.
const (
	streamTime = 0x6d74696d65 // "mtime"
	streamDocs = 0x646f6373   // "docs"
	streamPop  = 0x706f70     // "pop"
	streamLand = 0x6c616e64   // "land"
)

// Modification times: registers are "exported" at a seed-derived moment in
// the first half of 2025; documents carry their scan date.
const (
	exportBase = 1735689600 // 2025-01-01T00:00:00Z
	exportSpan = 180 * 86400
)

type generator struct {
	opt   Options
	mtime int64 // registers, README and directories
	docs  []docPlan
	years []int // distinct document years, ascending
}

func newGenerator(opt Options) *generator {
	g := &generator{opt: opt}
	g.mtime = exportBase + int64(newRNG(opt.Seed, streamTime).n(exportSpan))
	g.planDocs()
	return g
}

func unixTime(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

// chachaKey derives a ChaCha8 seed for item i of a stream.
func chachaKey(seed uint64, stream uint64, i uint64) [32]byte {
	var k [32]byte
	binary.LittleEndian.PutUint64(k[0:], seed)
	binary.LittleEndian.PutUint64(k[8:], stream)
	binary.LittleEndian.PutUint64(k[16:], i)
	copy(k[24:], "embassy\x00")
	return k
}
