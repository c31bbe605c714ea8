package locate

import (
	"math"
	"strings"
	"testing"
	"time"
)

var (
	luxembourg = Point{Lat: 49.6116, Lon: 6.1319}
	tallinn    = Point{Lat: 59.4370, Lon: 24.7536}
	tartu      = Point{Lat: 58.3780, Lon: 26.7290}
)

// Known answers: great-circle distances and the bound of a round trip.
func TestDistanceAndBoundKnownAnswers(t *testing.T) {
	for _, c := range []struct {
		a, b    Point
		km, eps float64
	}{
		{Point{48.8566, 2.3522}, Point{51.5074, -0.1278}, 343.6, 1}, // Paris-London
		{luxembourg, tallinn, 1607, 10},
		{tallinn, tallinn, 0, 1e-9},
		{Point{0, 0}, Point{0, 180}, math.Pi * EarthRadiusKm, 1e-6}, // antipodes
	} {
		if d := DistanceKm(c.a, c.b); math.Abs(d-c.km) > c.eps {
			t.Errorf("%v-%v: %.2f km, want %.1f±%v", c.a, c.b, d, c.km, c.eps)
		}
	}
	// 10 ms round trip: 5 ms one way, 1499 km at c, 999 km in fibre.
	if b := BoundKm(10*time.Millisecond, LightKmPerMs); math.Abs(b-1498.96) > 0.01 {
		t.Errorf("proof bound %.2f", b)
	}
	if b := BoundKm(10*time.Millisecond, FibreKmPerMs); math.Abs(b-999.31) > 0.01 {
		t.Errorf("fibre bound %.2f", b)
	}
}

func TestParsePoint(t *testing.T) {
	p, err := ParsePoint(" 49.6116, 6.1319 ")
	if err != nil || p != luxembourg {
		t.Fatalf("%v %v", p, err)
	}
	for _, s := range []string{"", "49.6", "91,0", "0,181", "a,b", "NaN,0"} {
		if _, err := ParsePoint(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// RTT is an upper bound: a site declared 50 km from a witness that answers
// in 30 ms is consistent (slowness proves nothing); a site declared in
// Luxembourg that answers Tallinn in 1 ms is contradicted (it is within
// 150 km of Tallinn); one needing a faster-than-fibre link is implausible.
func TestCheckDirections(t *testing.T) {
	near := Point{Lat: 59.0, Lon: 24.75} // about 49 km south of Tallinn
	v, err := Check(near, []Measurement{{Name: "tallinn-w", Kind: "witness", At: tallinn, Samples: []time.Duration{31 * time.Millisecond, 30 * time.Millisecond}}})
	if err != nil || v.Result != Consistent || v.Discs[0].MinRTT != 30*time.Millisecond {
		t.Fatalf("50 km away, 30 ms: %+v %v", v, err)
	}
	v, _ = Check(luxembourg, []Measurement{{Name: "tallinn-w", Kind: "witness", At: tallinn, Samples: []time.Duration{time.Millisecond}}})
	if v.Result != Contradicted || !strings.Contains(v.Reasons[0], "speed of light") {
		t.Fatalf("Luxembourg answering Tallinn in 1 ms: %+v", v)
	}
	// 1607 km needs 10.7 ms at c and 16.1 ms in fibre: 12 ms is implausible.
	v, _ = Check(luxembourg, []Measurement{{Name: "tallinn-w", Kind: "witness", At: tallinn, Samples: []time.Duration{12 * time.Millisecond}}})
	if v.Result != Implausible {
		t.Fatalf("12 ms over 1607 km: %+v", v)
	}
	// Two points whose discs cannot meet: one of them lies. A witness
	// alone cannot then prove the site false; the home's own disc can.
	v, _ = Check(tallinn, []Measurement{
		{Name: "home", Kind: "home", At: tallinn, Samples: []time.Duration{time.Millisecond}},
		{Name: "lu-w", Kind: "witness", At: luxembourg, Samples: []time.Duration{time.Millisecond}},
	})
	if v.Result != Inconsistent || len(v.Reasons) != 2 {
		t.Fatalf("disjoint discs, the witness contradicts: %+v", v)
	}
	v, _ = Check(luxembourg, []Measurement{
		{Name: "home", Kind: "home", At: tallinn, Samples: []time.Duration{time.Millisecond}},
		{Name: "lu-w", Kind: "witness", At: luxembourg, Samples: []time.Duration{time.Millisecond}},
	})
	if v.Result != Contradicted {
		t.Fatalf("disjoint discs, the home contradicts: %+v", v)
	}
	v, _ = Check(tartu, []Measurement{
		{Name: "home", Kind: "home", At: tallinn, Samples: []time.Duration{2 * time.Millisecond}},
		{Name: "tartu-w", Kind: "witness", At: tartu, Samples: []time.Duration{3 * time.Millisecond}},
		{Name: "lu-w", Kind: "witness", At: luxembourg, Samples: []time.Duration{10 * time.Millisecond}},
	})
	if v.Result != Contradicted {
		t.Fatalf("a witness whose disc meets the others' contradicts: %+v", v)
	}
	for _, ms := range [][]Measurement{nil, {{Name: "x", At: tallinn}}, {{Name: "x", At: Point{Lat: 100}, Samples: []time.Duration{1}}}, {{Name: "x", At: tallinn, Samples: []time.Duration{0}}}} {
		if _, err := Check(luxembourg, ms); err == nil {
			t.Errorf("%+v accepted", ms)
		}
	}
}
