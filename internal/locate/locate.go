// Package locate is location evidence for a site (framework requirement 8):
// what a site declares about where it is, signed with its pinned key, and
// round-trip times measured to it from points whose position is known (the
// home, host witnesses), checked against the speed of light.
//
// Which direction proves what. A signal cannot travel faster than light, so
// the smallest round-trip time t measured from a point P bounds the
// distance of whoever answered: it is at most c·t/2 from P. A round-trip
// time therefore proves an UPPER bound on distance, never a lower one:
//
//   - a site declared to be further from P than that bound is contradicted:
//     the key that answered is provably not where the site says it is;
//   - a site that answers slowly proves nothing: routing, congestion or a
//     deliberate delay all add time, and anyone can add time, nobody can
//     take it away;
//   - with several measuring points the responder lies in the intersection
//     of their discs; if the discs do not intersect, a measuring point lied
//     about its position or its samples.
//
// Two bounds are computed per point: the proof bound at c (nothing travels
// faster, so exceeding it is a contradiction) and the fibre bound at 2/3 c
// (light in glass; exceeding it but not the proof bound needs a free-space
// link such as microwave, and is flagged as implausible, not as proven).
//
// The package is pure: no network, no clock, no files.
package locate

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Propagation speeds in km per millisecond.
const (
	LightKmPerMs = 299.792458           // c in vacuum
	FibreKmPerMs = LightKmPerMs * 2 / 3 // light in optical fibre, about 2/3 c
)

// EarthRadiusKm is the mean Earth radius (IUGG) used for great-circle
// distances.
const EarthRadiusKm = 6371.0088

// Point is a position in decimal degrees (WGS 84).
type Point struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Valid checks the point's range.
func (p Point) Valid() error {
	if math.IsNaN(p.Lat) || math.IsNaN(p.Lon) || p.Lat < -90 || p.Lat > 90 || p.Lon < -180 || p.Lon > 180 {
		return fmt.Errorf("position %v,%v: latitude must be in -90..90 and longitude in -180..180", p.Lat, p.Lon)
	}
	return nil
}

func (p Point) String() string { return fmt.Sprintf("%.4f,%.4f", p.Lat, p.Lon) }

// ParsePoint reads "LAT,LON" in decimal degrees.
func ParsePoint(s string) (Point, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), ",")
	if !ok {
		return Point{}, fmt.Errorf("position %q: want LAT,LON in decimal degrees (e.g. 49.6116,6.1319)", s)
	}
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
	lon, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
	if err1 != nil || err2 != nil {
		return Point{}, fmt.Errorf("position %q: want LAT,LON in decimal degrees (e.g. 49.6116,6.1319)", s)
	}
	p := Point{Lat: lat, Lon: lon}
	return p, p.Valid()
}

// DistanceKm is the great-circle (haversine) distance between a and b.
func DistanceKm(a, b Point) float64 {
	rad := math.Pi / 180
	dLat, dLon := (b.Lat-a.Lat)*rad, (b.Lon-a.Lon)*rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(a.Lat*rad)*math.Cos(b.Lat*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * EarthRadiusKm * math.Asin(math.Min(1, math.Sqrt(h)))
}

// BoundKm is the furthest a responder can be from the measuring point when
// a round trip took rtt at speed kmPerMs: half the round trip, one way.
func BoundKm(rtt time.Duration, kmPerMs float64) float64 {
	return float64(rtt) / float64(time.Millisecond) / 2 * kmPerMs
}

// Measurement is a set of round-trip samples from one measuring point.
type Measurement struct {
	Name    string          `json:"name"`
	Kind    string          `json:"kind"` // home or witness
	At      Point           `json:"at"`
	Samples []time.Duration `json:"samples_ns"`
}

// Min is the smallest sample (0 without samples).
func (m Measurement) Min() time.Duration {
	if len(m.Samples) == 0 {
		return 0
	}
	return slices.Min(m.Samples)
}

// Disc is what one measurement proves.
type Disc struct {
	Name       string        `json:"name"`
	Kind       string        `json:"kind"`
	At         Point         `json:"at"`
	MinRTT     time.Duration `json:"min_rtt_ns"`
	ProofKm    float64       `json:"proof_km"` // at c: the responder is at most this far
	FibreKm    float64       `json:"fibre_km"` // at 2/3 c
	DeclaredKm float64       `json:"declared_km"`
	// State: "consistent" (declared point inside the fibre disc),
	// "implausible" (outside the fibre disc, inside the proof disc) or
	// "contradicted" (outside the proof disc: proven false).
	State string `json:"state"`
}

// Disc states and verdicts.
const (
	Consistent   = "consistent"
	Implausible  = "implausible"
	Contradicted = "contradicted"
	// Inconsistent: two measuring points' proof discs do not meet, so one
	// of them misstates its position or its samples.
	Inconsistent = "inconsistent-measurements"
)

// Verdict is the speed-of-light check of a declared position.
type Verdict struct {
	Declared Point    `json:"declared"`
	Discs    []Disc   `json:"discs"`
	Result   string   `json:"result"` // consistent, implausible, contradicted, inconsistent-measurements
	Reasons  []string `json:"reasons,omitempty"`
}

// ErrNoSamples is returned for a measurement without samples.
var ErrNoSamples = errors.New("a measurement has no round-trip sample")

// Check places declared against every measurement's discs. A declared
// position outside a proof disc is contradicted, unless the discs cannot
// all be true (two of them do not meet) and the contradicting disc is a
// witness's: a witness can sign samples it never measured, so then the
// result is inconsistent-measurements. The home's own disc always counts.
func Check(declared Point, ms []Measurement) (Verdict, error) {
	if err := declared.Valid(); err != nil {
		return Verdict{}, err
	}
	if len(ms) == 0 {
		return Verdict{}, errors.New("no measurement to check the declared position against")
	}
	v := Verdict{Declared: declared, Result: Consistent}
	for _, m := range ms {
		if err := m.At.Valid(); err != nil {
			return Verdict{}, fmt.Errorf("%s: %w", m.Name, err)
		}
		if len(m.Samples) == 0 {
			return Verdict{}, fmt.Errorf("%s: %w", m.Name, ErrNoSamples)
		}
		if m.Min() <= 0 {
			return Verdict{}, fmt.Errorf("%s: a round-trip sample of %v is not a measurement", m.Name, m.Min())
		}
		d := Disc{Name: m.Name, Kind: m.Kind, At: m.At, MinRTT: m.Min(),
			ProofKm: BoundKm(m.Min(), LightKmPerMs), FibreKm: BoundKm(m.Min(), FibreKmPerMs), DeclaredKm: DistanceKm(m.At, declared)}
		switch {
		case d.DeclaredKm > d.ProofKm:
			d.State = Contradicted
			v.Reasons = append(v.Reasons, fmt.Sprintf("%s %s answered in %v: the responder is at most %.0f km away even at the speed of light, but the declared position is %.0f km away",
				m.Kind, m.Name, d.MinRTT.Round(time.Microsecond), d.ProofKm, d.DeclaredKm))
		case d.DeclaredKm > d.FibreKm:
			d.State = Implausible
			v.Reasons = append(v.Reasons, fmt.Sprintf("%s %s answered in %v: at most %.0f km over fibre, the declared position is %.0f km away (possible only over a free-space link)",
				m.Kind, m.Name, d.MinRTT.Round(time.Microsecond), d.FibreKm, d.DeclaredKm))
		default:
			d.State = Consistent
		}
		v.Discs = append(v.Discs, d)
	}
	disjoint := false
	for i, a := range v.Discs {
		for _, b := range v.Discs[i+1:] {
			if gap := DistanceKm(a.At, b.At); gap > a.ProofKm+b.ProofKm {
				disjoint = true
				v.Reasons = append(v.Reasons, fmt.Sprintf("%s and %s are %.0f km apart but their discs reach only %.0f km together: one misstates its position or its samples",
					a.Name, b.Name, gap, a.ProofKm+b.ProofKm))
			}
		}
	}
	for _, d := range v.Discs {
		switch {
		case d.State == Contradicted && (d.Kind == "home" || !disjoint):
			v.Result = Contradicted
		case d.State == Contradicted && v.Result != Contradicted:
			// A witness alone contradicts the site, but the measurements
			// cannot all be true: a lying witness could fabricate this.
			v.Result = Inconsistent
		case d.State == Implausible && v.Result == Consistent:
			v.Result = Implausible
		}
	}
	return v, nil
}
