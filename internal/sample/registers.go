package sample

import (
	"bufio"
	"strconv"
)

type municipality struct {
	name, county string
	weight       int // roughly thousands of inhabitants
	postal       int // first postal code; codes span postal..postal+span-1
	span         int
	cadastral    int // five-digit cadastral unit prefix
	russian      int // percent of Russian-speaking inhabitants
	rural        int // percent of rural (farm and village) addresses
}

var municipalities = []municipality{
	{"Tallinn", "Harju maakond", 450, 10111, 5800, 78401, 35, 0},
	{"Tartu linn", "Tartu maakond", 97, 50050, 1500, 79501, 8, 3},
	{"Narva linn", "Ida-Viru maakond", 53, 20101, 1400, 51101, 90, 0},
	{"Pärnu linn", "Pärnu maakond", 52, 80010, 400, 62501, 8, 10},
	{"Kohtla-Järve linn", "Ida-Viru maakond", 33, 30101, 700, 32201, 70, 0},
	{"Saaremaa vald", "Saare maakond", 31, 93801, 1100, 71401, 1, 55},
	{"Rae vald", "Harju maakond", 23, 75301, 300, 65301, 10, 40},
	{"Saue vald", "Harju maakond", 23, 76501, 400, 72601, 12, 45},
	{"Viimsi vald", "Harju maakond", 22, 74001, 100, 89001, 12, 30},
	{"Viljandi linn", "Viljandi maakond", 17, 71003, 200, 89501, 3, 0},
	{"Maardu linn", "Harju maakond", 16, 74111, 100, 44601, 55, 0},
	{"Rakvere linn", "Lääne-Viru maakond", 15, 44306, 300, 66301, 6, 0},
	{"Harku vald", "Harju maakond", 15, 76901, 100, 19801, 10, 45},
	{"Valga vald", "Valga maakond", 15, 68203, 400, 85501, 12, 40},
	{"Elva vald", "Tartu maakond", 14, 61501, 300, 17101, 4, 50},
	{"Haapsalu linn", "Lääne maakond", 13, 90501, 100, 18301, 5, 15},
	{"Jõgeva vald", "Jõgeva maakond", 13, 48301, 400, 24901, 4, 55},
	{"Põlva vald", "Põlva maakond", 13, 63301, 400, 62001, 3, 55},
	{"Rapla vald", "Rapla maakond", 12, 79511, 300, 66801, 3, 50},
	{"Sillamäe linn", "Ida-Viru maakond", 12, 40231, 100, 73501, 85, 0},
	{"Jõhvi vald", "Ida-Viru maakond", 11, 41531, 200, 25001, 50, 20},
	{"Võru linn", "Võru maakond", 11, 65601, 100, 91901, 4, 0},
	{"Paide linn", "Järva maakond", 10, 72711, 100, 56801, 4, 15},
	{"Türi vald", "Järva maakond", 10, 72211, 200, 83601, 4, 50},
	{"Keila linn", "Harju maakond", 10, 76601, 100, 29601, 15, 0},
	{"Hiiumaa vald", "Hiiu maakond", 9, 92411, 300, 39001, 1, 65},
	{"Otepää vald", "Valga maakond", 6, 67405, 100, 55701, 3, 55},
}

var (
	estMale = []string{
		"Jaan", "Jüri", "Tõnu", "Märt", "Andres", "Rein", "Toomas", "Mart", "Priit", "Urmas",
		"Kalle", "Ülo", "Tõnis", "Siim", "Rasmus", "Oskar", "Karl", "Markus", "Aivar", "Margus",
		"Raivo", "Indrek", "Peeter", "Mihkel", "Hendrik", "Kristjan", "Sander", "Martin", "Joosep", "Jürgen",
	}
	estFemale = []string{
		"Mari", "Kadri", "Tiina", "Ülle", "Maarja", "Liis", "Kärt", "Triin", "Helgi", "Anu",
		"Pille", "Sirje", "Eha", "Õie", "Mall", "Elsa", "Grete", "Laura", "Sofia", "Mia",
		"Hanna", "Küllike", "Reet", "Külli", "Merike", "Kätlin", "Eliise", "Liisa", "Anneli", "Ene",
	}
	estLast = []string{
		"Tamm", "Saar", "Sepp", "Mägi", "Kask", "Kukk", "Rebane", "Ilves", "Pärn", "Koppel",
		"Lepik", "Oja", "Kuusk", "Karu", "Põder", "Lõhmus", "Vaher", "Kõiv", "Jõgi", "Järv",
		"Mänd", "Luik", "Raudsepp", "Kivi", "Tooming", "Laur", "Õunapuu", "Pihlak", "Kallas", "Kütt",
		"Lill", "Vares", "Teder", "Kuusik", "Mölder", "Ots", "Parts", "Sarapuu", "Uibo", "Väli", "Nõmm",
	}
	rusMale = []string{
		"Aleksandr", "Sergei", "Dmitri", "Andrei", "Vladimir", "Nikolai", "Jevgeni", "Juri",
		"Oleg", "Igor", "Maksim", "Artjom", "Mihhail", "Aleksei", "Vitali", "Roman",
	}
	rusFemale = []string{
		"Jelena", "Olga", "Tatjana", "Natalja", "Svetlana", "Irina", "Julia", "Anastassia",
		"Jekaterina", "Ljudmila", "Galina", "Darja", "Marina", "Valentina", "Žanna", "Anžela",
	}
	// Female forms add "a".
	rusLast = []string{
		"Ivanov", "Smirnov", "Kuznetsov", "Popov", "Vassiljev", "Petrov", "Sokolov", "Mihhailov",
		"Fjodorov", "Morozov", "Volkov", "Aleksejev", "Lebedev", "Semjonov", "Jegorov", "Pavlov",
		"Kozlov", "Stepanov", "Nikolajev", "Orlov", "Žukov", "Šestakov", "Žuravljov", "Šiškin",
		"Beljajev", "Gussev", "Titov", "Rõžkov", "Tšernõšov", "Gontšarov",
	}
	streets = []string{
		"Pikk", "Lai", "Narva mnt", "Tartu mnt", "Pärnu mnt", "Kesk", "Jõe", "Mere pst", "Kalda",
		"Vabaduse pst", "Männi", "Kase", "Pärna", "Kuuse", "Tööstuse", "Sõpruse pst", "Õie", "Aia",
		"Pargi", "Kooli", "Rüütli", "Veski", "Jaama", "Metsa", "Järve", "Ööbiku", "Lõuna",
		"Põhja pst", "Kreutzwaldi", "Koidula", "Väike-Karja", "Tähe", "Riia", "Võidu",
	}
	farms = []string{
		"Mäe", "Männiku", "Kase", "Tamme", "Jõe", "Ojaääre", "Põllu", "Metsa", "Kivi", "Sepa",
		"Nurme", "Vahtra", "Kuuse", "Liiva", "Rätsepa", "Möldri", "Ülase", "Sõnajala",
	}
	villages = []string{
		"Kuusiku küla", "Vääna küla", "Kõrveküla", "Ülenurme alevik", "Nõo alevik", "Järvselja küla",
		"Sõmeru alevik", "Tõravere küla", "Pärsti küla", "Käina alevik", "Kärla küla", "Haage küla",
		"Peetri alevik", "Luunja alevik", "Mõisaküla", "Äksi alevik",
	}
	citizenEst = weighted{{"EST", 970}, {"FIN", 10}, {"LVA", 6}, {"UKR", 6}, {"DEU", 4}, {"SWE", 4}}
	// XXX: undetermined citizenship (ICAO 9303), the "grey passport".
	citizenRus   = weighted{{"EST", 470}, {"RUS", 330}, {"XXX", 120}, {"UKR", 60}, {"BLR", 20}}
	purposeUrban = weighted{
		{"elamumaa", 560}, {"ärimaa", 150}, {"tootmismaa", 80}, {"transpordimaa", 80},
		{"sotsiaalmaa", 60}, {"üldkasutatav maa", 50}, {"maatulundusmaa", 20},
	}
	purposeRural = weighted{
		{"maatulundusmaa", 600}, {"elamumaa", 250}, {"tootmismaa", 50}, {"ärimaa", 30},
		{"transpordimaa", 40}, {"sotsiaalmaa", 20}, {"üldkasutatav maa", 10},
	}
	muniTotal int
)

func init() {
	for _, m := range municipalities {
		muniTotal += m.weight
	}
}

type weighted []struct {
	v string
	w int
}

func (ws weighted) pick(r *rng) string {
	t := 0
	for _, e := range ws {
		t += e.w
	}
	x := r.n(t)
	for _, e := range ws {
		if x < e.w {
			return e.v
		}
		x -= e.w
	}
	panic("unreachable")
}

func pickMunicipality(r *rng) int {
	x := r.n(muniTotal)
	for i, m := range municipalities {
		if x < m.weight {
			return i
		}
		x -= m.weight
	}
	panic("unreachable")
}

func pick(r *rng, s []string) string { return s[r.n(len(s))] }

// people is what the land register needs to know about the population.
type people struct {
	ids  [][11]byte
	muni []uint8
}

// Population dates, in days since 1970-01-01.
var (
	bornFirst   = daysFromCivil(1925, 1, 1)
	bornLast    = daysFromCivil(2024, 12, 31)
	registerDay = daysFromCivil(1992, 1, 1) // population register starts
	asOf        = daysFromCivil(2025, 1, 1) // the register's reference date
)

const populationHeader = "personal_id,first_name,last_name,date_of_birth,sex,citizenship," +
	"municipality,county,address,postal_code,registered_since,status\n"

// population writes the population register and returns who is in it.
func (g *generator) population(w *bufio.Writer) (people, error) {
	r := newRNG(g.opt.Seed, streamPop)
	n := g.opt.Rows
	p := people{ids: make([][11]byte, 0, n), muni: make([]uint8, 0, n)}
	// One bit per possible code: (birth day, serial, sex).
	taken := make([]uint64, ((bornLast-bornFirst+1)*2000+63)/64)
	if _, err := w.WriteString(populationHeader); err != nil {
		return p, err
	}
	for range n {
		mi := pickMunicipality(r)
		m := &municipalities[mi]
		male := r.n(2) == 0
		russian := r.percent(m.russian)

		// A unique code: draw a birth date and serial, probe on collision.
		born := bornFirst + r.n(bornLast-bornFirst+1)
		serial := r.n(1000)
		for tries := 0; ; tries++ {
			k := (born-bornFirst)*2000 + serial*2
			if male {
				k++
			}
			if taken[k/64]&(1<<(k%64)) == 0 {
				taken[k/64] |= 1 << (k % 64)
				break
			}
			serial = (serial + 1) % 1000
			if tries%1000 == 999 {
				born = bornFirst + r.n(bornLast-bornFirst+1)
			}
		}
		y, mo, d := civilFromDays(born)
		id := personalID(y, mo, d, male, serial)
		p.ids = append(p.ids, id)
		p.muni = append(p.muni, uint8(mi))

		var first, last, citizen string
		switch {
		case russian && male:
			first, last = pick(r, rusMale), pick(r, rusLast)
		case russian:
			first, last = pick(r, rusFemale), pick(r, rusLast)+"a"
		case male:
			first, last = pick(r, estMale), pick(r, estLast)
		default:
			first, last = pick(r, estFemale), pick(r, estLast)
		}
		if russian {
			citizen = citizenRus.pick(r)
		} else {
			citizen = citizenEst.pick(r)
		}

		since := registerDay + r.n(730) // entered when the register was built
		if born >= registerDay {
			since = born + r.n(30) // registered at birth
		} else if r.percent(15) {
			since = registerDay + r.n(asOf-registerDay) // moved in later
		}
		since = min(since, asOf-1)

		age := (asOf - born) / 365
		status := "resident"
		switch {
		case age >= 90 && r.percent(50), age >= 75 && r.percent(15), age >= 60 && r.percent(4), r.percent(1):
			status = "deceased"
		case age >= 20 && age < 50 && r.percent(8), r.percent(3):
			status = "emigrated"
		}

		b := w.AvailableBuffer()
		b = append(b, id[:]...)
		b = append(b, ',')
		b = appendField(b, first)
		b = append(b, ',')
		b = appendField(b, last)
		b = append(b, ',')
		b = appendDate(b, y, mo, d)
		if male {
			b = append(b, ",M,"...)
		} else {
			b = append(b, ",F,"...)
		}
		b = append(b, citizen...)
		b = append(b, ',')
		b = appendField(b, m.name)
		b = append(b, ',')
		b = appendField(b, m.county)
		b = append(b, ',')
		b = appendAddress(b, r, m)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(m.postal+r.n(m.span)), 10)
		b = append(b, ',')
		sy, sm, sd := civilFromDays(since)
		b = appendDate(b, sy, sm, sd)
		b = append(b, ',')
		b = append(b, status...)
		b = append(b, '\n')
		if _, err := w.Write(b); err != nil {
			return p, err
		}
	}
	return p, nil
}

// appendAddress appends a street address ("Pärnu mnt 12-5") or a rural one
// ("Männiku talu, Kuusiku küla", quoted).
func appendAddress(b []byte, r *rng, m *municipality) []byte {
	if r.percent(m.rural) {
		b = append(b, '"')
		b = append(b, pick(r, farms)...)
		b = append(b, " talu, "...)
		b = append(b, pick(r, villages)...)
		return append(b, '"')
	}
	b = append(b, pick(r, streets)...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(r.between(1, 140)), 10)
	if m.rural < 50 && r.percent(70) {
		b = append(b, '-')
		b = strconv.AppendInt(b, int64(r.between(1, 96)), 10)
	}
	return b
}

// appendField appends s as a CSV field, quoted if it needs to be.
func appendField(b []byte, s string) []byte {
	quote := false
	for i := range len(s) {
		if c := s[i]; c == ',' || c == '"' || c == '\n' || c == '\r' {
			quote = true
			break
		}
	}
	if !quote {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := range len(s) {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

const landHeader = "cadastral_id,municipality,area_m2,purpose,owner_personal_id\n"

// land writes about one parcel per ten people, each owned by one of them.
func (g *generator) land(w *bufio.Writer, p people) error {
	r := newRNG(g.opt.Seed, streamLand)
	if _, err := w.WriteString(landHeader); err != nil {
		return err
	}
	n := (len(p.ids) + 9) / 10
	taken := make(map[int]struct{}, n)
	for range n {
		owner := r.n(len(p.ids))
		mi := int(p.muni[owner])
		if !r.percent(75) {
			mi = pickMunicipality(r)
		}
		m := &municipalities[mi]
		var section, parcel int
		for {
			section, parcel = r.between(1, 999), r.between(1, 9999)
			k := (mi*1000+section)*10000 + parcel
			if _, dup := taken[k]; !dup {
				taken[k] = struct{}{}
				break
			}
		}
		var purpose string
		if r.percent(m.rural) {
			purpose = purposeRural.pick(r)
		} else {
			purpose = purposeUrban.pick(r)
		}
		var area int
		switch purpose {
		case "elamumaa":
			area = r.between(250, 2500)
		case "maatulundusmaa":
			area = r.between(5_000, 60_000) * r.between(1, 8)
		case "ärimaa", "sotsiaalmaa", "üldkasutatav maa":
			area = r.between(300, 30_000)
		case "tootmismaa":
			area = r.between(1_000, 100_000)
		default:
			area = r.between(200, 50_000)
		}

		b := w.AvailableBuffer()
		b = appendPadded(b, m.cadastral, 5)
		b = append(b, ':')
		b = appendPadded(b, section, 3)
		b = append(b, ':')
		b = appendPadded(b, parcel, 4)
		b = append(b, ',')
		b = appendField(b, m.name)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(area), 10)
		b = append(b, ',')
		b = append(b, purpose...)
		b = append(b, ',')
		b = append(b, p.ids[owner][:]...)
		b = append(b, '\n')
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// appendPadded appends v zero-padded to width digits.
func appendPadded(b []byte, v, width int) []byte {
	var d [20]byte
	i := len(d)
	for ; v > 0 || i > len(d)-width; v /= 10 {
		i--
		d[i] = byte('0' + v%10)
	}
	return append(b, d[i:]...)
}
