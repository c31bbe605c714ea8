// Command corpus generates the deterministic benchmark corpus used by
// bench/run.sh to compare embassy with restic and kopia.
//
//	go run ./bench/corpus -o DIR -size 2GiB -seed 1      # generate
//	go run ./bench/corpus -o DIR -seed 1 -mutate 1%      # change 1% in place
//
// The corpus has three parts, all derived from -seed only:
//
//   - blobs/: incompressible files from 1 KiB to 64 MiB (mostly small, a few
//     large; log-uniform within each class) spread over nested directories;
//   - registry/: about a quarter of the bytes as compressible register
//     records (CSV and JSON lines: persons, addresses, land parcels, civil
//     events) with realistic repetition (zstd compresses them ~3-5x);
//   - archive/: a near-duplicate copy of ~20% of the files above with small
//     edits (bytes overwritten, a few bytes inserted, a trailer appended).
//
// File contents, names and modification times are identical for the same
// -seed and -size. -mutate changes the given share of the files in place
// (appends, edits in the middle, a few new files); it depends only on -seed
// and on the current content of DIR, so every copy of the same corpus is
// changed the same way.
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	KiB = 1 << 10
	MiB = 1 << 20
	GiB = 1 << 30
)

// baseTime is the modification time of every generated file (plus its index
// in seconds), so that the corpus metadata is deterministic too.
var baseTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func main() {
	var (
		out     = flag.String("o", "", "output directory (required)")
		sizeStr = flag.String("size", "2GiB", "approximate total size (e.g. 64MiB, 2GiB, 1.5GB)")
		seed    = flag.Uint64("seed", 1, "seed for the deterministic generator")
		mutate  = flag.String("mutate", "", "instead of generating, change this share of the files in -o in place (e.g. 1%)")
		jobs    = flag.Int("j", min(2, runtime.NumCPU()), "parallel writers")
		quiet   = flag.Bool("q", false, "print only the summary line")
	)
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: corpus -o DIR [-size 2GiB] [-seed 1] [-mutate 1%%] [-j N]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	start := time.Now()
	if *mutate != "" {
		pct, err := parsePercent(*mutate)
		if err != nil {
			fatal(err)
		}
		st, err := mutateDir(*out, *seed, pct, *quiet)
		if err != nil {
			fatal(err)
		}
		fmt.Printf("mutated %d of %d files (%d appended, %d edited, %d inserted, %d new): %d bytes written, corpus now %d files %d bytes (%s)\n",
			st.changed, st.before, st.appended, st.edited, st.inserted, st.created, st.written, st.files, st.bytes, time.Since(start).Round(time.Millisecond))
		return
	}
	size, err := parseSize(*sizeStr)
	if err != nil {
		fatal(err)
	}
	if size < MiB {
		fatal(fmt.Errorf("-size %s is too small (minimum 1MiB)", *sizeStr))
	}
	if err := ensureEmpty(*out); err != nil {
		fatal(err)
	}
	files, bytes, err := generate(*out, size, *seed, max(1, *jobs), *quiet)
	if err != nil {
		fatal(err)
	}
	el := time.Since(start)
	fmt.Printf("generated %d files, %d bytes (%.2f GiB) in %s (%.0f MiB/s)\n",
		files, bytes, float64(bytes)/GiB, el.Round(time.Millisecond), float64(bytes)/MiB/el.Seconds())
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "corpus:", err)
	os.Exit(1)
}

// ---------------------------------------------------------------- parsing

func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') && t[i-1] != '.' {
		i--
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": KiB, "kib": KiB, "kb": 1e3,
		"m": MiB, "mib": MiB, "mb": 1e6,
		"g": GiB, "gib": GiB, "gb": 1e9,
		"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
	}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("bad size unit in %q", s)
	}
	return int64(f * mult), nil
}

func parsePercent(s string) (float64, error) {
	t := strings.TrimSuffix(strings.TrimSpace(s), "%")
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 || f > 100 {
		return 0, fmt.Errorf("bad percentage %q", s)
	}
	return f / 100, nil
}

func ensureEmpty(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return err
	}
	if len(ents) != 0 {
		return fmt.Errorf("%s is not empty", dir)
	}
	return nil
}

// ---------------------------------------------------------------- randomness

// splitmix64 derives independent seeds from (seed, stream, index).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func newChaCha(seed uint64, stream string, idx uint64) *rand.ChaCha8 {
	var key [32]byte
	h := splitmix64(seed)
	for _, c := range []byte(stream) {
		h = splitmix64(h ^ uint64(c))
	}
	h = splitmix64(h ^ idx)
	for i := 0; i < 4; i++ {
		h = splitmix64(h + uint64(i))
		binary.LittleEndian.PutUint64(key[8*i:], h)
	}
	return rand.NewChaCha8(key)
}

func newRand(seed uint64, stream string, idx uint64) *rand.Rand {
	return rand.New(newChaCha(seed, stream, idx))
}

// logUniform returns a size drawn log-uniformly from [lo, hi].
func logUniform(r *rand.Rand, lo, hi int64) int64 {
	l, h := math.Log(float64(lo)), math.Log(float64(hi))
	return int64(math.Exp(l + r.Float64()*(h-l)))
}

// ---------------------------------------------------------------- plan

type kind int

const (
	kRandom kind = iota // incompressible
	kCSV                // person/address register rows
	kJSONL              // parcels and civil events
	kDup                // near-duplicate of an earlier file
)

type spec struct {
	idx  int
	path string // relative, slash separated
	kind kind
	size int64 // target size (records: approximate; dup: ignored)
	src  int   // kDup: index of the source spec
}

// plan decides every file of the corpus. It depends only on size and seed.
func plan(size int64, seed uint64) []spec {
	r := newRand(seed, "plan", 0)
	var specs []spec
	add := func(p string, k kind, n int64, src int) {
		specs = append(specs, spec{idx: len(specs), path: p, kind: k, size: n, src: src})
	}

	// Budgets: about 1/6 near-duplicates (a copy of ~20% of the rest), a
	// quarter of the total as register records, the rest incompressible.
	dupBudget := size / 6
	recBudget := size / 4
	rndBudget := size - dupBudget - recBudget

	// Nested directories for the blobs: a random tree of ~sqrt(n) dirs.
	ndirs := int(max(4, min(400, int(math.Sqrt(float64(size/MiB)))*8)))
	dirs := []string{"blobs"}
	for len(dirs) < ndirs {
		parent := dirs[r.IntN(len(dirs))]
		if strings.Count(parent, "/") >= 5 {
			continue
		}
		dirs = append(dirs, fmt.Sprintf("%s/%s-%02d", parent, dirWords[r.IntN(len(dirWords))], len(dirs)))
	}
	// Incompressible files: 97.5% log-uniform in [1KiB, 1MiB), 2.5% in [1MiB, 64MiB].
	maxBig := min(int64(64*MiB), max(MiB+1, rndBudget/8))
	for left, n := rndBudget, 0; left > 0; n++ {
		var sz int64
		if r.IntN(1000) < 25 {
			sz = logUniform(r, MiB, maxBig)
		} else {
			sz = logUniform(r, KiB, MiB-1)
		}
		if sz > left || left-sz < KiB {
			sz = left
		}
		left -= sz
		d := dirs[r.IntN(len(dirs))]
		add(fmt.Sprintf("%s/%s-%05d.%s", d, fileWords[r.IntN(len(fileWords))], n, blobExts[r.IntN(len(blobExts))]), kRandom, sz, 0)
	}

	// Register records, split into shards of similar size.
	shard := min(int64(16*MiB), max(256*KiB, recBudget/64))
	type recKind struct {
		dir, name string
		k         kind
		share     float64
	}
	recs := []recKind{
		{"registry/persons", "persons", kCSV, 0.45},
		{"registry/parcels", "parcels", kJSONL, 0.30},
		{"registry/civil", "events", kJSONL, 0.25},
	}
	for _, rk := range recs {
		budget := int64(float64(recBudget) * rk.share)
		for n := 0; budget > 0; n++ {
			sz := min(budget, shard/2+r.Int64N(shard))
			if budget-sz < shard/4 {
				sz = budget
			}
			budget -= sz
			ext := "csv"
			if rk.k == kJSONL {
				ext = "jsonl"
			}
			add(fmt.Sprintf("%s/%s-%04d.%s", rk.dir, rk.name, n, ext), rk.k, sz, 0)
		}
	}

	// Near-duplicates: copies of ~20% of the files (by bytes), chosen at random.
	nbase := len(specs)
	perm := r.Perm(nbase)
	for _, i := range perm {
		if dupBudget <= 0 {
			break
		}
		s := specs[i]
		if s.size > dupBudget*2 {
			continue
		}
		dupBudget -= s.size
		add("archive/2023/"+s.path, kDup, s.size, i)
	}
	return specs
}

var (
	dirWords  = []string{"cadastre", "scans", "minutes", "decrees", "census", "maps", "treaties", "ledgers", "tax", "health", "courts", "archive", "photos", "backup", "geo"}
	fileWords = []string{"scan", "doc", "img", "blob", "vol", "map", "rec", "page", "tile", "dump"}
	blobExts  = []string{"bin", "pdf", "jpg", "tif", "dat", "zip"}
)

// ---------------------------------------------------------------- generate

func generate(out string, size int64, seed uint64, jobs int, quiet bool) (int, int64, error) {
	specs := plan(size, seed)
	dirSet := map[string]bool{}
	for _, s := range specs {
		dirSet[filepath.Dir(filepath.Join(out, filepath.FromSlash(s.path)))] = true
	}
	for d := range dirSet {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return 0, 0, err
		}
	}
	// Phase 1: originals; phase 2: near-duplicates (they read their source).
	var total int64
	for phase := 0; phase < 2; phase++ {
		var todo []spec
		for _, s := range specs {
			if (s.kind == kDup) == (phase == 1) {
				todo = append(todo, s)
			}
		}
		n, err := runJobs(todo, jobs, func(s spec) (int64, error) {
			return writeSpec(out, specs, s, seed)
		})
		total += n
		if err != nil {
			return 0, 0, err
		}
		if !quiet {
			what := "originals"
			if phase == 1 {
				what = "near-duplicates"
			}
			fmt.Fprintf(os.Stderr, "corpus: %d %s, %d bytes\n", len(todo), what, n)
		}
	}
	// Deterministic directory times (after all files exist), deepest first.
	dirs := make([]string, 0, len(dirSet))
	for d := range dirSet {
		for ; d != out && len(d) > len(out); d = filepath.Dir(d) {
			dirs = append(dirs, d)
		}
	}
	slices.Sort(dirs)
	dirs = slices.Compact(dirs)
	slices.Reverse(dirs)
	for _, d := range dirs {
		if err := os.Chtimes(d, baseTime, baseTime); err != nil {
			return 0, 0, err
		}
	}
	return len(specs), total, nil
}

func runJobs(todo []spec, jobs int, fn func(spec) (int64, error)) (int64, error) {
	var (
		mu    sync.Mutex
		total int64
		first error
		wg    sync.WaitGroup
		ch    = make(chan spec)
	)
	for w := 0; w < jobs; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range ch {
				n, err := fn(s)
				mu.Lock()
				total += n
				if err != nil && first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	for _, s := range todo {
		ch <- s
	}
	close(ch)
	wg.Wait()
	return total, first
}

func writeSpec(out string, specs []spec, s spec, seed uint64) (int64, error) {
	p := filepath.Join(out, filepath.FromSlash(s.path))
	f, err := os.Create(p)
	if err != nil {
		return 0, err
	}
	w := &countWriter{w: f}
	bw := bufio.NewWriterSize(w, 1*MiB)
	switch s.kind {
	case kRandom:
		err = writeRandom(bw, newChaCha(seed, "blob", uint64(s.idx)), s.size)
	case kCSV:
		err = writePersons(bw, newRand(seed, "persons", uint64(s.idx)), s.size, s.idx)
	case kJSONL:
		if strings.Contains(s.path, "parcels") {
			err = writeParcels(bw, newRand(seed, "parcels", uint64(s.idx)), s.size, s.idx)
		} else {
			err = writeEvents(bw, newRand(seed, "events", uint64(s.idx)), s.size, s.idx)
		}
	case kDup:
		err = writeDup(bw, filepath.Join(out, filepath.FromSlash(specs[s.src].path)), newRand(seed, "dup", uint64(s.idx)))
	}
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		t := baseTime.Add(time.Duration(s.idx) * time.Second)
		err = os.Chtimes(p, t, t)
	}
	return w.n, err
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

func writeRandom(w io.Writer, c *rand.ChaCha8, n int64) error {
	buf := make([]byte, min(n, 1*MiB))
	for n > 0 {
		b := buf[:min(n, int64(len(buf)))]
		_, _ = c.Read(b)
		if _, err := w.Write(b); err != nil {
			return err
		}
		n -= int64(len(b))
	}
	return nil
}

// writeDup copies src with small edits: a few bytes overwritten, sometimes a
// few bytes inserted (shifting the rest), sometimes a trailer appended.
func writeDup(w io.Writer, src string, r *rand.Rand) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	data = editBytes(data, r)
	_, err = w.Write(data)
	return err
}

func editBytes(data []byte, r *rand.Rand) []byte {
	if len(data) > 0 {
		for k := 1 + r.IntN(3); k > 0; k-- {
			off := r.IntN(len(data))
			n := min(len(data)-off, 1+r.IntN(64))
			for i := 0; i < n; i++ {
				data[off+i] = byte(r.Uint32())
			}
		}
	}
	if r.IntN(3) == 0 && len(data) > 0 {
		off := r.IntN(len(data))
		ins := make([]byte, 1+r.IntN(100))
		for i := range ins {
			ins[i] = byte('a' + r.IntN(26))
		}
		data = slices.Insert(data, off, ins...)
	}
	if r.IntN(3) == 0 {
		data = fmt.Appendf(data, "\n# revised %04d-%02d-%02d by clerk %d\n", 2023+r.IntN(2), 1+r.IntN(12), 1+r.IntN(28), r.IntN(1000))
	}
	return data
}

// ---------------------------------------------------------------- registry records

var (
	givenNames  = []string{"Marie", "Jean", "Anne", "Paul", "Sophie", "Luc", "Claire", "Marc", "Julie", "Pierre", "Laura", "Tom", "Emma", "Noah", "Léa", "Louis", "Sarah", "Ben", "Lena", "Max", "Mia", "Leon", "Nina", "Felix", "Eva", "David", "Sandra", "Michel", "Carine", "Patrick", "Nathalie", "Georges", "Monique", "Fernand", "Josiane", "Romain", "Tessy", "Gilles", "Joëlle", "Yves", "Ana", "João", "Maria", "José", "Catarina", "Miguel", "Inês", "Rui", "Sofia", "Tiago", "Giulia", "Marco", "Chiara", "Luca", "Elena", "Ahmed", "Fatima", "Omar", "Amina", "Yusuf", "Olga", "Ivan", "Katarzyna", "Piotr", "Agnieszka", "Tomasz", "Hanna", "Lukas", "Jonas", "Charlotte"}
	familyNames = []string{"Schmit", "Muller", "Weber", "Hoffmann", "Wagner", "Thill", "Schroeder", "Reuter", "Klein", "Schmitz", "Kieffer", "Becker", "Meyer", "Kremer", "Faber", "Hansen", "Welter", "Weis", "Majerus", "Schiltz", "Scholtes", "Ries", "Kayser", "Steffen", "Schneider", "Goergen", "Wirtz", "Lentz", "Back", "Feller", "Da Silva", "Dos Santos", "Pereira", "Ferreira", "Rodrigues", "Fernandes", "Gonçalves", "Martins", "Lopes", "Marques", "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco", "Dubois", "Martin", "Bernard", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau", "Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Ibrahim", "Hassan", "Ali", "Mohamed", "Haddad", "Peeters", "Janssens", "Maes", "Jacobs", "Mertens", "Willems", "Claes", "Goossens", "Wouters", "De Smet"}
	towns       = []string{"Luxembourg", "Esch-sur-Alzette", "Differdange", "Dudelange", "Ettelbruck", "Diekirch", "Wiltz", "Echternach", "Rumelange", "Grevenmacher", "Remich", "Vianden", "Clervaux", "Mersch", "Bettembourg", "Hesperange", "Sanem", "Pétange", "Schifflange", "Kayl", "Mondorf-les-Bains", "Strassen", "Bertrange", "Mamer", "Steinsel", "Walferdange", "Junglinster", "Redange", "Capellen", "Käerjeng", "Mondercange", "Leudelange", "Niederanven", "Sandweiler", "Contern", "Roeser", "Weiler-la-Tour", "Frisange", "Schuttrange", "Lorentzweiler"}
	streets     = []string{"rue de la Gare", "rue Principale", "route d'Arlon", "avenue de la Liberté", "rue de l'Église", "rue du Moulin", "rue des Jardins", "rue de Luxembourg", "Grand-Rue", "rue de la Forêt", "rue des Champs", "rue de l'École", "rue du Château", "rue Neuve", "rue des Prés", "boulevard Royal", "route de Thionville", "route d'Esch", "rue de Hollerich", "rue Adolphe Fischer", "avenue Pasteur", "rue Michel Rodange", "rue Dicks", "rue de Strasbourg", "rue des Vignes", "rue de la Chapelle", "rue du Cimetière", "rue des Roses", "rue Nicolas Martha", "rue du Fort Wallis", "Kiirchestrooss", "Haaptstrooss", "Bannwiss", "Um Bierg", "op der Heed"}
	nationality = []string{"LU", "LU", "LU", "LU", "LU", "PT", "PT", "FR", "FR", "IT", "BE", "DE", "ES", "PL", "RO", "GR", "NL", "IE", "SY", "ER", "BR", "CV", "MA", "IN", "CN", "UA"}
	civilState  = []string{"single", "single", "married", "married", "married", "divorced", "widowed", "partnership"}
	landUse     = []string{"residential", "residential", "residential", "agricultural", "agricultural", "forest", "commercial", "industrial", "road", "water", "meadow", "vineyard"}
	sections    = []string{"A", "B", "C", "D", "E", "F", "AB", "AC", "BA", "HA"}
	eventTypes  = []string{"birth", "birth", "death", "marriage", "divorce", "residence_change", "residence_change", "residence_change", "naturalisation", "name_change"}
	offices     = []string{"Bureau de la population Luxembourg", "Etat civil Esch-sur-Alzette", "Etat civil Differdange", "Etat civil Dudelange", "Administration communale Mersch", "Administration communale Wiltz", "Bureau de la population Hesperange"}
)

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

// person ids are like Luxembourg's 13-digit matricule: birth date, a
// sequence number and two check digits.
func appendPersonID(b []byte, y, m, d, seq int) []byte {
	b = strconv.AppendInt(b, int64(y), 10)
	b = appendPad(b, m, 2)
	b = appendPad(b, d, 2)
	b = appendPad(b, seq%1000, 3)
	return appendPad(b, (y*7+m*13+d*17+seq*31)%97, 2)
}

func appendPad(b []byte, v, w int) []byte {
	var tmp [20]byte
	s := strconv.AppendInt(tmp[:0], int64(v), 10)
	for i := len(s); i < w; i++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

func appendDate(b []byte, y, m, d int) []byte {
	b = strconv.AppendInt(b, int64(y), 10)
	b = append(b, '-')
	b = appendPad(b, m, 2)
	b = append(b, '-')
	return appendPad(b, d, 2)
}

type dateGen struct{ y, m, d int }

func randDate(r *rand.Rand, y0, y1 int) dateGen {
	return dateGen{y0 + r.IntN(y1-y0+1), 1 + r.IntN(12), 1 + r.IntN(28)}
}

func writeRows(w io.Writer, header string, size int64, row func(b []byte, i int) []byte) error {
	b := make([]byte, 0, 2*MiB)
	b = append(b, header...)
	var written int64
	for i := 0; written+int64(len(b)) < size; i++ {
		b = row(b, i)
		if len(b) >= 1*MiB {
			if _, err := w.Write(b); err != nil {
				return err
			}
			written += int64(len(b))
			b = b[:0]
		}
	}
	_, err := w.Write(b)
	return err
}

func writePersons(w io.Writer, r *rand.Rand, size int64, shard int) error {
	const header = "person_id;given_name;family_name;birth_date;sex;birth_place;nationality;civil_status;street;house_no;postcode;town;registered_since;status\n"
	return writeRows(w, header, size, func(b []byte, i int) []byte {
		bd := randDate(r, 1925, 2024)
		b = appendPersonID(b, bd.y, bd.m, bd.d, shard*7919+i)
		b = append(b, ';')
		b = append(b, pick(r, givenNames)...)
		if r.IntN(4) == 0 {
			b = append(b, ' ')
			b = append(b, pick(r, givenNames)...)
		}
		b = append(b, ';')
		b = append(b, pick(r, familyNames)...)
		b = append(b, ';')
		b = appendDate(b, bd.y, bd.m, bd.d)
		b = append(b, ';')
		b = append(b, "MF"[r.IntN(2)])
		b = append(b, ';')
		b = append(b, pick(r, towns)...)
		b = append(b, ';')
		b = append(b, pick(r, nationality)...)
		b = append(b, ';')
		b = append(b, pick(r, civilState)...)
		b = append(b, ';')
		b = append(b, pick(r, streets)...)
		b = append(b, ';')
		b = strconv.AppendInt(b, int64(1+r.IntN(120)), 10)
		b = append(b, ";L-"...)
		b = strconv.AppendInt(b, int64(1000+r.IntN(9000)), 10)
		b = append(b, ';')
		b = append(b, pick(r, towns)...)
		b = append(b, ';')
		rd := randDate(r, max(bd.y, 1990), 2024)
		b = appendDate(b, rd.y, rd.m, rd.d)
		if r.IntN(20) == 0 {
			b = append(b, ";deceased\n"...)
		} else {
			b = append(b, ";active\n"...)
		}
		return b
	})
}

func writeParcels(w io.Writer, r *rand.Rand, size int64, shard int) error {
	return writeRows(w, "", size, func(b []byte, i int) []byte {
		town := r.IntN(len(towns))
		b = append(b, `{"parcel_id":"LU-`...)
		b = appendPad(b, town*100+r.IntN(100), 4)
		b = append(b, '-')
		b = appendPad(b, shard*50000+i, 7)
		b = append(b, `","commune":"`...)
		b = append(b, towns[town]...)
		b = append(b, `","section":"`...)
		b = append(b, pick(r, sections)...)
		b = append(b, `","number":"`...)
		b = strconv.AppendInt(b, int64(1+r.IntN(2000)), 10)
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(r.IntN(10000)), 10)
		b = append(b, `","area_m2":`...)
		b = strconv.AppendInt(b, logUniform(r, 20, 200000), 10)
		b = append(b, `,"centroid":[`...)
		b = strconv.AppendFloat(b, 49.45+r.Float64()*0.6, 'f', 6, 64)
		b = append(b, ',')
		b = strconv.AppendFloat(b, 5.75+r.Float64()*0.7, 'f', 6, 64)
		b = append(b, `],"value_eur":`...)
		b = strconv.AppendInt(b, 100*logUniform(r, 50, 500000), 10)
		b = append(b, `,"land_use":"`...)
		b = append(b, pick(r, landUse)...)
		b = append(b, `","owner":{"person_id":"`...)
		bd := randDate(r, 1925, 2005)
		b = appendPersonID(b, bd.y, bd.m, bd.d, r.IntN(1000))
		b = append(b, `","share":"`...)
		b = append(b, pick(r, []string{"1/1", "1/1", "1/1", "1/2", "1/2", "1/3", "1/4"})...)
		b = append(b, `"},"address":{"street":"`...)
		b = append(b, pick(r, streets)...)
		b = append(b, `","postcode":"L-`...)
		b = strconv.AppendInt(b, int64(1000+r.IntN(9000)), 10)
		b = append(b, `"},"registered":"`...)
		rd := randDate(r, 1950, 2024)
		b = appendDate(b, rd.y, rd.m, rd.d)
		b = append(b, `","mutation":"`...)
		b = append(b, pick(r, []string{"sale", "inheritance", "donation", "division", "merger", "expropriation"})...)
		b = append(b, `","deed":"`...)
		b = append(b, pick(r, []string{"Me Schmit", "Me Wagner", "Me Kremer", "Me Faber", "Me Hoffmann", "Me Reuter", "Me Weber"})...)
		b = append(b, `"}`...)
		b = append(b, '\n')
		return b
	})
}

func writeEvents(w io.Writer, r *rand.Rand, size int64, shard int) error {
	return writeRows(w, "", size, func(b []byte, i int) []byte {
		ed := randDate(r, 1960, 2024)
		b = append(b, `{"event_id":`...)
		b = strconv.AppendInt(b, int64(shard)*1_000_000+int64(i), 10)
		b = append(b, `,"type":"`...)
		b = append(b, pick(r, eventTypes)...)
		b = append(b, `","date":"`...)
		b = appendDate(b, ed.y, ed.m, ed.d)
		b = append(b, 'T')
		b = appendPad(b, 7+r.IntN(11), 2)
		b = append(b, ':')
		b = appendPad(b, r.IntN(60), 2)
		b = append(b, ':')
		b = appendPad(b, r.IntN(60), 2)
		b = append(b, `Z","act":"`...)
		b = strconv.AppendUint(b, uint64(r.Uint32()), 16)
		b = append(b, `","office":"`...)
		b = append(b, pick(r, offices)...)
		b = append(b, `","subject":{"person_id":"`...)
		bd := randDate(r, 1925, ed.y)
		b = appendPersonID(b, bd.y, bd.m, bd.d, r.IntN(1000))
		b = append(b, `","given_name":"`...)
		b = append(b, pick(r, givenNames)...)
		b = append(b, `","family_name":"`...)
		b = append(b, pick(r, familyNames)...)
		b = append(b, `"},"place":"`...)
		b = append(b, pick(r, towns)...)
		b = append(b, `","recorded_by":"agent-`...)
		b = appendPad(b, r.IntN(60), 3)
		b = append(b, `","verified":`...)
		if r.IntN(10) == 0 {
			b = append(b, "false"...)
		} else {
			b = append(b, "true"...)
		}
		b = append(b, `}`...)
		b = append(b, '\n')
		return b
	})
}

// ---------------------------------------------------------------- mutate

type mutStats struct {
	before, changed, appended, edited, inserted, created int
	written                                              int64
	files                                                int
	bytes                                                int64
}

// mutateDir changes pct of the regular files under dir in place: a third get
// data appended, a third are edited in the middle (bytes overwritten), some
// get bytes inserted (content shifts) and about 10% of the changes are new
// files. The choice depends on seed and the sorted file list only.
func mutateDir(dir string, seed uint64, pct float64, quiet bool) (mutStats, error) {
	var st mutStats
	var paths []string
	var sizes []int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			paths = append(paths, filepath.ToSlash(rel))
			sizes = append(sizes, info.Size())
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	if len(paths) == 0 {
		return st, fmt.Errorf("%s has no files", dir)
	}
	// WalkDir is lexical already; sort anyway to be independent of it.
	idx := make([]int, len(paths))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(paths[a], paths[b]) })
	st.before = len(paths)
	// Different mutation rounds on the same corpus differ: mix in the count.
	r := newRand(seed, "mutate", uint64(len(paths)))
	n := max(1, int(math.Round(pct*float64(len(paths)))))
	nNew := max(1, n/10)
	nChange := max(1, n-nNew)
	perm := r.Perm(len(paths))[:min(nChange, len(paths))]
	slices.Sort(perm) // stable processing order
	for k, pi := range perm {
		i := idx[pi]
		p := filepath.Join(dir, filepath.FromSlash(paths[i]))
		var w int64
		switch {
		case k%3 == 0: // append
			w, err = appendTo(p, r, sizes[i])
			st.appended++
		case k%3 == 1 || sizes[i] > 64*MiB: // edit in the middle, in place
			w, err = editInPlace(p, r, sizes[i])
			st.edited++
		default: // insert bytes in the middle (rewrites the file)
			w, err = insertInto(p, r)
			st.inserted++
		}
		if err != nil {
			return st, err
		}
		st.written += w
		st.changed++
	}
	for k := 0; k < nNew; k++ {
		// New files go next to existing ones.
		near := paths[idx[r.IntN(len(idx))]]
		name := fmt.Sprintf("%s/new-%d-%05d.dat", filepath.Dir(filepath.FromSlash(near)), len(paths), k)
		p := filepath.Join(dir, name)
		sz := logUniform(r, KiB, 4*MiB)
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return st, err
		}
		err = writeRandom(f, newChaCha(seed, "mutate-new", uint64(len(paths)*1000+k)), sz)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return st, err
		}
		st.written += sz
		st.created++
		st.changed++
	}
	if !quiet {
		fmt.Fprintf(os.Stderr, "corpus: mutated %d files, %d new\n", nChange, nNew)
	}
	return st, recount(dir, &st)
}

func recount(dir string, st *mutStats) error {
	st.files, st.bytes = 0, 0
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st.files++
		st.bytes += info.Size()
		return nil
	})
}

func appendTo(p string, r *rand.Rand, size int64) (int64, error) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return 0, err
	}
	n := min(max(size/8, KiB), int64(1+r.IntN(256))*KiB)
	var buf []byte
	if strings.HasSuffix(p, ".csv") || strings.HasSuffix(p, ".jsonl") {
		var bb byteBuf
		err = writeEvents(&bb, r, n, 9999)
		buf = bb
	} else {
		buf = make([]byte, n)
		for i := range buf {
			buf[i] = byte(r.Uint32())
		}
	}
	if err == nil {
		_, err = f.Write(buf)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return int64(len(buf)), err
}

type byteBuf []byte

func (b *byteBuf) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }

func editInPlace(p string, r *rand.Rand, size int64) (int64, error) {
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return 0, err
	}
	n := min(size, int64(1+r.IntN(16))*KiB)
	off := size/2 - n/2
	if size > n {
		off = min(size-n, max(0, off+r.Int64N(size/4+1)-size/8))
	}
	buf := make([]byte, n)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	_, err = f.WriteAt(buf, off)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

func insertInto(p string, r *rand.Rand) (int64, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	ins := make([]byte, 1+r.IntN(4*KiB))
	for i := range ins {
		ins[i] = byte(r.Uint32())
	}
	data = slices.Insert(data, len(data)/2+r.IntN(len(data)/4+1), ins...)
	return int64(len(ins)), os.WriteFile(p, data, 0o644)
}
