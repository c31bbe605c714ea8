package tlog

import (
	"os"
	"strings"
	"testing"
)

// TestKindsDocumented keeps docs/formats/tlog.md and Kinds in step: every
// kind the code can write is described for the auditors who read the log.
func TestKindsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/formats/tlog.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, k := range Kinds {
		if !strings.Contains(doc, "`"+k+"`") {
			t.Errorf("kind %q is in tlog.Kinds but not in docs/formats/tlog.md", k)
		}
	}
}
