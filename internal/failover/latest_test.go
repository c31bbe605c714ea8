package failover

import (
	"errors"
	"testing"
)

// TestWitnessedAhead: only verified answers beyond the copy count; a tree
// of the copy's size with another root (a fork) counts too; unreachable
// witnesses are reported apart and never as ahead.
func TestWitnessedAhead(t *testing.T) {
	w := &Witnessed{Size: 10, Hash: []byte{1}}
	heads := []WitnessHead{
		{Name: "older", Size: 8, Hash: []byte{9}},
		{Name: "same", Size: 10, Hash: []byte{1}},
		{Name: "fork", Size: 10, Hash: []byte{2}},
		{Name: "newer", Size: 11, Hash: []byte{3}},
		{Name: "down", Err: errors.New("connection refused")},
		{Name: "none", None: true},
	}
	var got []string
	for _, h := range w.Ahead(heads) {
		got = append(got, h.Name)
	}
	if len(got) != 2 || got[0] != "fork" || got[1] != "newer" {
		t.Fatalf("ahead %v, want [fork newer]", got)
	}
	if u := Unreachable(heads); len(u) != 1 || u[0].Name != "down" {
		t.Fatalf("unreachable %+v, want [down]", u)
	}
}
