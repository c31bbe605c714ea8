package agreement

// TermRow is one resolved term as 'agreement show' lists it: its
// dimension, effective value, the baseline's value and where it comes from.
type TermRow struct {
	Dimension string `json:"dimension"`
	Term      string `json:"term"`
	Value     string `json:"value"`
	Baseline  string `json:"baseline,omitempty"`
	Source    string `json:"source"`
	Line      int    `json:"line,omitempty"`
}

// TermRows resolves a against base and lists every term it sets, grouped by
// trust dimension in the order of Dimensions, then Terms.
func TermRows(a *Agreement, base *Baseline) []TermRow {
	res := Resolve(a, base)
	var rows []TermRow
	for _, dim := range Dimensions {
		for _, t := range Terms {
			if r, ok := res[t.Path]; ok && t.Dimension == dim {
				rows = append(rows, TermRow{dim, t.Path, r.Value.String(), r.Baseline.String(), string(r.Source), r.Value.Line})
			}
		}
	}
	return rows
}
