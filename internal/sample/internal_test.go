package sample

import (
	"testing"
	"time"
)

func TestCivilDays(t *testing.T) {
	for day := daysFromCivil(1800, 1, 1); day <= daysFromCivil(2200, 1, 1); day++ {
		y, m, d := civilFromDays(day)
		want := time.Unix(int64(day)*86400, 0).UTC()
		if y != want.Year() || m != int(want.Month()) || d != want.Day() || daysFromCivil(y, m, d) != day {
			t.Fatalf("day %d: got %d-%d-%d, want %s", day, y, m, d, want.Format(time.DateOnly))
		}
	}
}

func TestPersonalIDRoundTrip(t *testing.T) {
	r := newRNG(1, 2)
	for range 10_000 {
		y, m, d := civilFromDays(daysFromCivil(1800, 1, 1) + r.n(146097))
		male := r.n(2) == 0
		id := personalID(y, m, d, male, r.n(1000))
		if !ValidPersonalID(string(id[:])) {
			t.Fatalf("personalID(%d-%d-%d) = %s is invalid", y, m, d, id)
		}
		if got := (id[0]-'0')%2 == 1; got != male {
			t.Fatalf("%s: sex digit wrong", id)
		}
	}
}

func TestAppendPadded(t *testing.T) {
	tests := []struct {
		v, width int
		want     string
	}{{0, 3, "000"}, {7, 4, "0007"}, {123, 3, "123"}, {78401, 5, "78401"}, {12345, 3, "12345"}}
	for _, tt := range tests {
		if got := string(appendPadded(nil, tt.v, tt.width)); got != tt.want {
			t.Errorf("appendPadded(%d, %d) = %q, want %q", tt.v, tt.width, got, tt.want)
		}
	}
}
