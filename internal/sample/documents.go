package sample

import (
	"bufio"
	"math/bits"
	"math/rand/v2"
	"path"
	"slices"
	"strconv"
)

var docKinds = []string{
	"notarial-deed", "land-survey", "court-ruling", "birth-certificate",
	"building-permit", "marriage-certificate", "inheritance-certificate",
}

const (
	docFirstYear = 1994
	docLastYear  = 2024
	docTrailer   = "\nendstream\n%%EOF\n"
)

type docPlan struct {
	path   string // slash-separated, relative to the target directory
	header string
	size   int // total file size
	mtime  int64
}

// planDocs decides every document's name, date, header and size up front,
// so checkDir knows the layout before anything is written.
func (g *generator) planDocs() {
	r := newRNG(g.opt.Seed, streamDocs)
	g.docs = make([]docPlan, g.opt.Documents)
	seen := map[int]bool{}
	for i := range g.docs {
		year := docFirstYear + r.n(docLastYear-docFirstYear+1)
		day := daysFromCivil(year, 1, 1) + r.n(daysFromCivil(year+1, 1, 1)-daysFromCivil(year, 1, 1))
		kind := docKinds[r.n(len(docKinds))]
		// size = DocSize/8 + 3.5*DocSize*u1*u2: mean DocSize, long tail of
		// small scans, at most about 3.6*DocSize.
		u := (r.u64() >> 32) * (r.u64() >> 32)
		extra, _ := bits.Mul64(u, uint64(g.opt.DocSize)*7/2)
		size := g.opt.DocSize/8 + int(extra)
		pages := 1 + size/(96<<10)
		y, m, d := civilFromDays(day)
		date := string(appendDate(nil, y, m, d))
		seq := strconv.Itoa(100000 + i + 1)[1:]
		if i+1 >= 100000 {
			seq = strconv.Itoa(i + 1)
		}
		header := "%PDF-1.7\n%SIM synthetic scanned document, random bytes, not a real PDF\n" +
			"%Embassy-Sample seed=" + strconv.FormatUint(g.opt.Seed, 10) + " doc=" + seq +
			" kind=" + kind + " date=" + date + " pages=" + strconv.Itoa(pages) + "\nstream\n"
		size = max(size, len(header)+len(docTrailer))
		g.docs[i] = docPlan{
			path:   path.Join(DocumentsDir, strconv.Itoa(year), date+"-"+kind+"-"+seq+".pdf.sim"),
			header: header,
			size:   size,
			mtime:  int64(day)*86400 + 8*3600 + int64(r.n(10*3600)),
		}
		if !seen[year] {
			seen[year] = true
			g.years = append(g.years, year)
		}
	}
	slices.Sort(g.years)
}

// document writes document i: header, incompressible body, trailer.
func (g *generator) document(w *bufio.Writer, i int) error {
	d := &g.docs[i]
	if _, err := w.WriteString(d.header); err != nil {
		return err
	}
	c := rand.NewChaCha8(chachaKey(g.opt.Seed, streamDocs, uint64(i)))
	buf := make([]byte, 64<<10)
	for n := d.size - len(d.header) - len(docTrailer); n > 0; {
		b := buf[:min(n, len(buf))]
		_, _ = c.Read(b) // never fails
		if _, err := w.Write(b); err != nil {
			return err
		}
		n -= len(b)
	}
	_, err := w.WriteString(docTrailer)
	return err
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian
// date (H. Hinnant's algorithm; integer only).
func daysFromCivil(y, m, d int) int {
	if m <= 2 {
		y--
	}
	era := y
	if era < 0 {
		era -= 399
	}
	era /= 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int) (y, m, d int) {
	z += 719468
	era := z
	if era < 0 {
		era -= 146096
	}
	era /= 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	y = yoe + era*400
	if m <= 2 {
		y++
	}
	return y, m, d
}

// appendDate appends YYYY-MM-DD.
func appendDate(b []byte, y, m, d int) []byte {
	b = append(b, byte('0'+y/1000%10), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-')
	b = append(b, byte('0'+m/10), byte('0'+m%10), '-')
	return append(b, byte('0'+d/10), byte('0'+d%10))
}
