package cli

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// A command file is flags, a call into the service layer and output
// (issue 10, docs/ARCHITECTURE.md): TestCommandFilesThin keeps each
// cmd_*.go at most maxCommandLines lines of code. Help text (string
// literals that span lines), comments, imports and blank lines are not
// counted: a command may explain itself at length. Formatting the vault's
// results lives in print_*.go; anything that decides lives in
// internal/vault (TestCLIDecidesNothing).
const maxCommandLines = 60

// thickPending: command files still over the limit, with their count when
// the test was written. The list only shrinks: a file at or under the
// limit that is still listed fails the test. It is empty now: every
// command file is within the limit, and a new one over it fails.
var thickPending = map[string]int{}

// codeLines counts the lines of a Go file that are code: not blank, not a
// comment, not the package clause or an import, not inside a string
// literal that spans lines (its first line, holding the field name, counts).
func codeLines(t *testing.T, name string) int {
	t.Helper()
	src, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(src), "\n")
	skip := make([]bool, len(lines)+2)
	mark := func(from, to token.Pos, first bool) {
		s, e := fset.Position(from).Line, fset.Position(to).Line
		if !first {
			s++
		}
		for i := s; i <= e; i++ {
			skip[i] = true
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		if bl, ok := n.(*ast.BasicLit); ok && bl.Kind == token.STRING {
			mark(bl.Pos(), bl.End(), false)
		}
		return true
	})
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			// A comment after code on its line leaves the line counted.
			if p := fset.Position(c.Pos()); strings.TrimSpace(lines[p.Line-1][:p.Column-1]) == "" {
				mark(c.Pos(), c.End(), true)
			}
		}
	}
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.IMPORT {
			mark(g.Pos(), g.End(), true)
		}
	}
	mark(f.Package, f.Name.End(), true)
	n := 0
	for i, l := range lines {
		if strings.TrimSpace(l) != "" && !skip[i+1] {
			n++
		}
	}
	return n
}

func TestCommandFilesThin(t *testing.T) {
	files, err := filepath.Glob("cmd_*.go")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	seen := map[string]bool{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		seen[name] = true
		n := codeLines(t, name)
		was, pending := thickPending[name]
		switch {
		case n > maxCommandLines && !pending:
			t.Errorf("%s: %d lines of code (limit %d, help text and comments not counted): move printing to print_*.go and decisions to internal/vault", name, n, maxCommandLines)
		case n > maxCommandLines && n > was:
			t.Errorf("%s: %d lines of code, more than the %d it was listed with in thickPending", name, n, was)
		case n <= maxCommandLines && pending:
			t.Errorf("%s: %d lines of code, within the limit: remove it from thickPending", name, n)
		}
	}
	for name := range thickPending {
		if !seen[name] {
			t.Errorf("thickPending lists %s, which does not exist", name)
		}
	}
}

// TestCodeLines pins what codeLines counts.
func TestCodeLines(t *testing.T) {
	src := "package cli\n\nimport (\n\t\"fmt\"\n)\n\n// A comment\n// on two lines.\nfunc f() {\n\tx := `help\ntext\non lines`\n\tfmt.Println(x) // trailing\n}\n"
	name := filepath.Join(t.TempDir(), "cmd_x.go")
	if err := os.WriteFile(name, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	// func f() {, x := `help, fmt.Println(x), }
	if n := codeLines(t, name); n != 4 {
		t.Fatalf("codeLines = %d, want 4", n)
	}
}
