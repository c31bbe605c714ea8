package agreement

import "testing"

// TermRows lists every resolved term once, dimension by dimension.
func TestTermRows(t *testing.T) {
	a, err := Parse(example(t, "ee-lu"))
	if err != nil {
		t.Fatal(err)
	}
	base := DefaultBaseline()
	rows := TermRows(a, base)
	if len(rows) != len(Resolve(a, base)) {
		t.Fatalf("%d rows for %d resolved terms", len(rows), len(Resolve(a, base)))
	}
	dim := 0
	for _, r := range rows {
		for dim < len(Dimensions) && Dimensions[dim] != r.Dimension {
			dim++
		}
		if dim == len(Dimensions) {
			t.Fatalf("row %s: dimension %q out of order", r.Term, r.Dimension)
		}
		if r.Source == "" || r.Value == "" && r.Source != "baseline" {
			t.Errorf("row %+v: no source or value", r)
		}
	}
}
