package sample_test

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/digital-embassy/embassy/internal/sample"
	"github.com/google/go-cmp/cmp"
)

var small = sample.Options{Rows: 3000, Documents: 6, DocSize: 16 << 10, Seed: 42}

func TestValidPersonalID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"37605030299", true},  // the classic example
		{"49403136515", true},  // female, 1900s
		{"38001010015", true},  // check digit from the second weights
		{"38001010250", true},  // both weightings give 10: check digit 0
		{"50002290002", true},  // 2000-02-29 is real
		{"50002290008", false}, // wrong check digit
		{"37605030298", false}, // wrong check digit
		{"38001010010", false}, // first weights ignored when they give 10
		{"3760503029", false},  // too short
		{"376050302990", false},
		{"3760503029x", false},
		{"37605030२99", false}, // non-ASCII digit
		{"", false},
		{"97605030299", false}, // no such century digit
		{"07605030299", false},
		{"37613030293", false}, // month 13, check digit right
		{"37602300292", false}, // 30 February, check digit right
	}
	for _, tt := range tests {
		if got := sample.ValidPersonalID(tt.id); got != tt.want {
			t.Errorf("ValidPersonalID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestDefaultOptions(t *testing.T) {
	want := sample.Options{Rows: 100_000, Documents: 40, DocSize: 256 << 10}
	if diff := cmp.Diff(want, sample.DefaultOptions()); diff != "" {
		t.Errorf("DefaultOptions (-want +got):\n%s", diff)
	}
}

func TestGenerateContent(t *testing.T) {
	dir := t.TempDir()
	st, err := sample.Generate(dir, small)
	if err != nil {
		t.Fatal(err)
	}
	tree := snapshot(t, dir)
	var total int64
	files := 0
	for _, e := range tree {
		if !e.dir {
			files++
			total += e.size
		}
	}
	want := sample.Stats{Files: 3 + small.Documents, Bytes: total, Rows: small.Rows, Documents: small.Documents}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	if files != want.Files {
		t.Errorf("%d files on disk, want %d", files, want.Files)
	}

	readme, err := os.ReadFile(filepath.Join(dir, sample.ReadmeFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "synthetic") || strings.Count(string(readme), "\n") != 1 {
		t.Errorf("README is not one paragraph about synthetic data: %q", readme)
	}

	pop := readCSV(t, filepath.Join(dir, sample.PopulationFile))
	wantHeader := []string{"personal_id", "first_name", "last_name", "date_of_birth", "sex", "citizenship",
		"municipality", "county", "address", "postal_code", "registered_since", "status"}
	if diff := cmp.Diff(wantHeader, pop[0]); diff != "" {
		t.Fatalf("population header (-want +got):\n%s", diff)
	}
	if len(pop)-1 != small.Rows {
		t.Errorf("population has %d rows, want %d", len(pop)-1, small.Rows)
	}
	ids := map[string]bool{}
	statuses := map[string]int{}
	nonASCII := map[rune]bool{}
	date := regexp.MustCompile(`^(19|20)\d\d-[01]\d-[0-3]\d$`)
	for _, row := range pop[1:] {
		id := row[0]
		if !sample.ValidPersonalID(id) {
			t.Fatalf("invalid personal id %q in %q", id, row)
		}
		if ids[id] {
			t.Fatalf("duplicate personal id %q", id)
		}
		ids[id] = true
		// GYYMMDD must agree with date_of_birth and sex.
		if dob := row[3]; dob[2:4]+dob[5:7]+dob[8:10] != id[1:7] || !date.MatchString(dob) {
			t.Fatalf("id %q disagrees with date of birth %q", id, dob)
		}
		if male := (id[0]-'0')%2 == 1; (row[4] == "M") != male || (row[4] != "M" && row[4] != "F") {
			t.Fatalf("id %q disagrees with sex %q", id, row[4])
		}
		if !date.MatchString(row[10]) || row[10] < row[3] {
			t.Fatalf("bad registered_since %q for born %q", row[10], row[3])
		}
		if len(row[9]) != 5 {
			t.Fatalf("bad postal code %q", row[9])
		}
		if !strings.HasSuffix(row[7], " maakond") {
			t.Fatalf("bad county %q", row[7])
		}
		statuses[row[11]]++
		for _, f := range row {
			if !utf8.ValidString(f) {
				t.Fatalf("invalid UTF-8 in %q", row)
			}
			for _, c := range f {
				if c > 127 {
					nonASCII[c] = true
				}
			}
		}
	}
	for _, s := range []string{"resident", "emigrated", "deceased"} {
		if statuses[s] == 0 {
			t.Errorf("no %s people", s)
		}
	}
	if len(statuses) != 3 {
		t.Errorf("statuses = %v", statuses)
	}
	for _, c := range "õäöüšž" {
		if !nonASCII[c] {
			t.Errorf("no %q anywhere in the population register", c)
		}
	}

	land := readCSV(t, filepath.Join(dir, sample.LandFile))
	if diff := cmp.Diff([]string{"cadastral_id", "municipality", "area_m2", "purpose", "owner_personal_id"}, land[0]); diff != "" {
		t.Fatalf("land header (-want +got):\n%s", diff)
	}
	if got, want := len(land)-1, small.Rows/10; got != want {
		t.Errorf("land register has %d parcels, want %d", got, want)
	}
	cadastral := regexp.MustCompile(`^\d{5}:\d{3}:\d{4}$`)
	parcels := map[string]bool{}
	for _, row := range land[1:] {
		if !cadastral.MatchString(row[0]) || parcels[row[0]] {
			t.Fatalf("bad or duplicate cadastral id %q", row[0])
		}
		parcels[row[0]] = true
		if !ids[row[4]] {
			t.Fatalf("parcel %q owned by unknown %q", row[0], row[4])
		}
		if row[2] == "" || row[2][0] == '0' || row[2][0] == '-' {
			t.Fatalf("bad area %q", row[2])
		}
	}

	docs, err := filepath.Glob(filepath.Join(dir, sample.DocumentsDir, "*", "*.pdf.sim"))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != small.Documents {
		t.Errorf("%d documents, want %d", len(docs), small.Documents)
	}
	for i, p := range docs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		year := filepath.Base(filepath.Dir(p))
		if !bytes.HasPrefix(b, []byte("%PDF-")) || !strings.HasPrefix(filepath.Base(p), year+"-") {
			t.Errorf("%s: bad header or name", p)
		}
		if i == 0 && compressedRatio(t, b) < 0.99 {
			t.Errorf("%s compresses; want incompressible bytes", p)
		}
	}
}

func TestGenerateDocumentSizes(t *testing.T) {
	opt := sample.Options{Rows: 10, Documents: 400, DocSize: 4096, Seed: 3}
	dir := t.TempDir()
	st, err := sample.Generate(dir, opt)
	if err != nil {
		t.Fatal(err)
	}
	var total, lo, hi int64 = 0, 1 << 62, 0
	for p, e := range snapshot(t, dir) {
		if strings.HasSuffix(p, ".pdf.sim") {
			total += e.size
			lo, hi = min(lo, e.size), max(hi, e.size)
		}
	}
	if st.Documents != opt.Documents {
		t.Fatalf("stats %+v", st)
	}
	mean := total / int64(opt.Documents)
	if mean < 4096*85/100 || mean > 4096*115/100 {
		t.Errorf("mean document size %d, want about 4096", mean)
	}
	if lo < 4096/8 || hi > 4096*4 || hi < 2*4096 {
		t.Errorf("document sizes range %d..%d, want about 512..14848", lo, hi)
	}
}

func TestGenerateDeterministic(t *testing.T) {
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	for _, d := range []string{a, b} {
		if _, err := sample.Generate(d, small); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(snapshot(t, a), snapshot(t, b), cmp.AllowUnexported(entry{})); diff != "" {
		t.Errorf("two generations differ (-a +b):\n%s", diff)
	}
	other := small
	other.Seed++
	if _, err := sample.Generate(c, other); err != nil {
		t.Fatal(err)
	}
	sa, sc := snapshot(t, a), snapshot(t, c)
	for _, f := range []string{sample.PopulationFile, sample.LandFile, "."} {
		if sa[f] == sc[f] {
			t.Errorf("seeds %d and %d give the same %s", small.Seed, other.Seed, f)
		}
	}
}

func TestGenerateZeroOptionsAreDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("writes the full default sample")
	}
	a, b := t.TempDir(), t.TempDir()
	st, err := sample.Generate(a, sample.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Rows != 100_000 || st.Documents != 40 {
		t.Errorf("stats %+v", st)
	}
	// A zero Options is the same generation as DefaultOptions.
	if _, err := sample.Generate(a, sample.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	if _, err := sample.Generate(b, sample.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(snapshot(t, a), snapshot(t, b), cmp.AllowUnexported(entry{})); diff != "" {
		t.Errorf("zero and default options differ:\n%s", diff)
	}
}

func TestGenerateTwice(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "sample") // created if missing
	if _, err := sample.Generate(dir, small); err != nil {
		t.Fatal(err)
	}
	want := snapshot(t, dir)
	if _, err := sample.Generate(dir, small); err != nil {
		t.Fatalf("second generation: %v", err)
	}
	if diff := cmp.Diff(want, snapshot(t, dir), cmp.AllowUnexported(entry{})); diff != "" {
		t.Errorf("second generation differs (-first +second):\n%s", diff)
	}

	// Damage and partial loss are repaired by generating again.
	docs, _ := filepath.Glob(filepath.Join(dir, sample.DocumentsDir, "*", "*"))
	must(t, os.WriteFile(filepath.Join(dir, sample.PopulationFile), []byte("junk"), 0o600))
	must(t, os.Remove(docs[0]))
	must(t, os.RemoveAll(filepath.Join(dir, sample.LandFile)))
	must(t, os.Chmod(docs[1], 0o600))
	if _, err := sample.Generate(dir, small); err != nil {
		t.Fatalf("regeneration: %v", err)
	}
	if diff := cmp.Diff(want, snapshot(t, dir), cmp.AllowUnexported(entry{})); diff != "" {
		t.Errorf("regeneration differs (-first +again):\n%s", diff)
	}
}

func TestGenerateRefusesForeign(t *testing.T) {
	other := small
	other.Rows++ // same file names, different content
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
	}{
		{"foreign file", func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, "registry.db"), []byte("real data"), 0o644))
		}},
		{"foreign dir", func(t *testing.T, dir string) {
			must(t, os.Mkdir(filepath.Join(dir, "backup"), 0o755))
		}},
		{"register without readme", func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, sample.PopulationFile), []byte("real data"), 0o644))
		}},
		{"foreign file among documents", func(t *testing.T, dir string) {
			gen(t, dir, small)
			must(t, os.WriteFile(filepath.Join(dir, sample.DocumentsDir, "scan.pdf"), nil, 0o644))
		}},
		{"symlink in place of a register", func(t *testing.T, dir string) {
			gen(t, dir, small)
			p := filepath.Join(dir, sample.LandFile)
			must(t, os.Remove(p))
			must(t, os.Symlink(filepath.Join(t.TempDir(), "elsewhere"), p))
		}},
		{"other seed", func(t *testing.T, dir string) {
			o := small
			o.Seed++
			gen(t, dir, o)
		}},
		{"other rows", func(t *testing.T, dir string) { gen(t, dir, other) }},
		{"edited readme", func(t *testing.T, dir string) {
			gen(t, dir, small)
			must(t, os.WriteFile(filepath.Join(dir, sample.ReadmeFile), []byte("mine\n"), 0o644))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			before := snapshot(t, dir)
			_, err := sample.Generate(dir, small)
			if !errors.Is(err, sample.ErrForeign) {
				t.Fatalf("Generate = %v, want ErrForeign", err)
			}
			if !strings.Contains(err.Error(), dir) {
				t.Errorf("error %q does not name the directory", err)
			}
			if diff := cmp.Diff(before, snapshot(t, dir), cmp.AllowUnexported(entry{})); diff != "" {
				t.Errorf("refused generation changed the directory:\n%s", diff)
			}
		})
	}
}

func TestGenerateBadInput(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	must(t, os.WriteFile(file, nil, 0o644))
	tests := []struct {
		name string
		dir  string
		opt  sample.Options
	}{
		{"negative rows", t.TempDir(), sample.Options{Rows: -1}},
		{"negative documents", t.TempDir(), sample.Options{Documents: -1}},
		{"negative size", t.TempDir(), sample.Options{DocSize: -1}},
		{"too many rows", t.TempDir(), sample.Options{Rows: sample.MaxRows + 1}},
		{"too large documents", t.TempDir(), sample.Options{DocSize: sample.MaxDocSize + 1}},
		{"dir is a file", file, small},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := sample.Generate(tt.dir, tt.opt); err == nil || errors.Is(err, sample.ErrForeign) {
				t.Errorf("Generate = %v, want an input error", err)
			}
		})
	}
}

func BenchmarkGenerate(b *testing.B) {
	dir := b.TempDir()
	for b.Loop() {
		st, err := sample.Generate(dir, sample.DefaultOptions())
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(st.Bytes)
	}
}

type entry struct {
	dir   bool
	mode  fs.FileMode
	mtime int64
	size  int64
	hash  string
}

// snapshot records every entry under dir, dir itself as ".".
func snapshot(t *testing.T, dir string) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := entry{dir: d.IsDir(), mode: fi.Mode(), mtime: fi.ModTime().UnixNano()}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			e.size, e.hash = int64(len(b)), hex.EncodeToString(h[:])
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			e.mode &^= fs.ModePerm // the caller's to choose
		}
		out[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readCSV(t *testing.T, p string) [][]string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.ReuseRecord = false
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return rows
}

func compressedRatio(t *testing.T, b []byte) float64 {
	t.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	_, _ = w.Write(b)
	must(t, w.Close())
	return float64(buf.Len()) / float64(len(b))
}

func gen(t *testing.T, dir string, o sample.Options) {
	t.Helper()
	if _, err := sample.Generate(dir, o); err != nil {
		t.Fatal(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(fmt.Errorf("setup: %w", err))
	}
}
