package plan

import (
	"os"
	"path/filepath"
	"testing"
)

func loadExample(t testing.TB, name string) *Scenario {
	t.Helper()
	p := filepath.Join("..", "..", "examples", "scenarios", name)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := Parse(f, p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestExampleReports(t *testing.T) {
	for _, name := range []string{"baltic.yaml", "gulf.yaml", "pacific.yaml"} {
		t.Run(name, func(t *testing.T) {
			s := loadExample(t, name)
			r, err := Build(s, ReportOptions{Trials: 20000})
			if err != nil {
				t.Fatal(err)
			}
			if testing.Verbose() {
				r.WriteText(os.Stdout)
			}
			if v := Violations(s, r.Scores, r.Placement, 0); len(v) > 0 {
				t.Fatalf("placement breaks the scenario: %v", v)
			}
		})
	}
}
