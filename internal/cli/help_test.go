package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every help/NAME.txt is shown by a command (helpText("NAME")), and every
// helpText call names a file, so no help text is dead or missing.
func TestHelpTextsUsed(t *testing.T) {
	files, err := filepath.Glob("help/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no help texts: %v", err)
	}
	var src strings.Builder
	gos, _ := filepath.Glob("*.go")
	for _, g := range gos {
		if strings.HasSuffix(g, "_test.go") {
			continue
		}
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		src.Write(b)
	}
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`helpText\("([a-z_]+)"\)`).FindAllStringSubmatch(src.String(), -1) {
		used[m[1]] = true
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".txt")
		if !used[name] {
			t.Errorf("%s is not shown by any command", f)
		}
		delete(used, name)
	}
	for name := range used {
		t.Errorf("helpText(%q) has no help/%s.txt", name, name)
	}
	// and each reads as the command's text: no Go string quoting left in it
	for _, f := range files {
		b, _ := os.ReadFile(f)
		// substring: the help files must hold no Go string quoting: absence
		if strings.Contains(string(b), "` + ") || strings.HasSuffix(string(b), "\n\n") {
			t.Errorf("%s holds Go source or trailing blank lines", f)
		}
	}
}
