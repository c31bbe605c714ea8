package assess

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestFrameworkDocInStep: docs/FRAMEWORK.md's status table states each
// requirement's implementation level as the code does (reqDefs), so the
// document an auditor reads is never behind what assess reports.
func TestFrameworkDocInStep(t *testing.T) {
	b, err := os.ReadFile("../../docs/FRAMEWORK.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`^\| (\d+)(?:-(\d+))? \| [^|]+ \| ([a-z]+)`)
	doc := map[int]string{}
	for _, l := range strings.Split(string(b), "\n") {
		m := row.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		from, _ := strconv.Atoi(m[1])
		to := from
		if m[2] != "" {
			to, _ = strconv.Atoi(m[2])
		}
		for n := from; n <= to; n++ {
			doc[n] = m[3]
		}
	}
	for _, d := range reqDefs {
		got, ok := doc[d.n]
		if !ok {
			t.Errorf("requirement %d (%s) has no row in docs/FRAMEWORK.md's status table", d.n, d.title)
			continue
		}
		if got != string(d.impl) {
			t.Errorf("requirement %d (%s): docs/FRAMEWORK.md says %q, the code says %q", d.n, d.title, got, d.impl)
		}
	}
}
