package codec

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strings"

	"github.com/zeebo/blake3"
)

// randomData returns n deterministic incompressible bytes.
func randomData(n int, seed string) []byte {
	h := blake3.New()
	h.WriteString(seed)
	b := make([]byte, n)
	if _, err := io.ReadFull(h.Digest(), b); err != nil {
		panic(err)
	}
	return b
}

var (
	firstNames = []string{"Mari", "Jaan", "Anna", "Peeter", "Kadri", "Andres", "Liis", "Toomas", "Maarja", "Mihkel", "Kristiina", "Martin", "Tiina", "Rasmus", "Laura", "Priit"}
	lastNames  = []string{"Tamm", "Saar", "Sepp", "Mägi", "Kask", "Kukk", "Rebane", "Ilves", "Pärn", "Koppel", "Lepik", "Kuusk", "Karu", "Põder", "Lõhmus", "Teder"}
	places     = [][2]string{{"Tallinn", "Harju maakond"}, {"Tartu", "Tartu maakond"}, {"Pärnu", "Pärnu maakond"}, {"Narva", "Ida-Viru maakond"}, {"Viljandi", "Viljandi maakond"}, {"Rakvere", "Lääne-Viru maakond"}, {"Kuressaare", "Saare maakond"}, {"Haapsalu", "Lääne maakond"}}
	streets    = []string{"Pikk", "Lai", "Tartu mnt", "Narva mnt", "Pärnu mnt", "Kooli", "Aia", "Vabriku", "Jaama", "Posti"}
)

// registryCSV returns about n bytes of a synthetic population register in
// CSV, deterministic for a seed.
func registryCSV(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	b.Grow(n + 256)
	b.WriteString("isikukood,eesnimi,perenimi,synniaeg,linn,maakond,aadress,telefon,staatus\n")
	for b.Len() < n {
		y, m, d := 1930+r.IntN(90), 1+r.IntN(12), 1+r.IntN(28)
		p := places[r.IntN(len(places))]
		fmt.Fprintf(&b, "%d%02d%02d%02d%04d,%s,%s,%d-%02d-%02d,%s,%s,%s %d-%d,+372 5%07d,%s\n",
			3+r.IntN(2), y%100, m, d, r.IntN(10000),
			firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))],
			y, m, d, p[0], p[1], streets[r.IntN(len(streets))], 1+r.IntN(120), 1+r.IntN(60),
			r.IntN(1e7), []string{"elus", "elus", "elus", "surnud", "välismaal"}[r.IntN(5)])
	}
	return []byte(b.String()[:n])
}
