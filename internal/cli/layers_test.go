package cli

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The command line parses flags, calls the service layer and prints
// (docs/ARCHITECTURE.md, Layers). TestCLIDecidesNothing keeps it so: no
// file of the package (tests aside) imports a package that decides —
// opens sites, writes snapshots or restores, serves witnesses or daemons,
// signs continuity documents — or calls the constructors of the log, the
// policy engine or the repository. .golangci.yml's depguard rule "cli"
// checks the data path; this test checks the rest, with each remaining
// exception named with its file and why it is still there. An exception
// that is no longer used fails the test, so the list only shrinks.

const mod = "github.com/digital-embassy/embassy/internal/"

// deciding packages: the command line reaches them through internal/vault.
var deciding = []string{
	"archiver", "restorer", "proof", "witness", "failover", "operate", "evidence", "daemon",
	"site/location", "site/remote", "site/check", "site/fs", "site/s3", "site/erasure", "site/retry",
	"broker", "supply", "protect", "sample",
}

// deciding calls of packages the command line may import for their types.
var decidingCalls = []string{
	"tlog.Open", "tlog.LoadOrCreateKey", "tlog.NewReader", "policy.New", "repo.Open", "repo.Init", "witness.New", "location.Open",
	"tlog.VerifyBundle", "tlog.ParsePolicy", "tlog.VerifyReceipt",
}

// exceptions: file -> imports or calls still there, and why.
var exceptions = map[string][]string{
	"cmd_serve.go": {"daemon"}, // 'embassy serve' is the daemon's entry point
}

func TestCLIDecidesNothing(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]map[string]bool{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		var found []string
		local := map[string]string{} // import name -> path under internal/
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			rel, ok := strings.CutPrefix(p, mod)
			if !ok {
				continue
			}
			n := filepath.Base(rel)
			if im.Name != nil {
				n = im.Name.Name
			}
			local[n] = rel
			if slices.Contains(deciding, rel) {
				found = append(found, rel)
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, ok := sel.X.(*ast.Ident); ok && local[id.Name] != "" {
				call := filepath.Base(local[id.Name]) + "." + sel.Sel.Name
				if slices.Contains(decidingCalls, call) && !slices.Contains(found, call) {
					found = append(found, call)
				}
			}
			return true
		})
		for _, x := range found {
			if !slices.Contains(exceptions[name], x) {
				t.Errorf("%s uses %s: the command line parses flags and prints; move the decision into internal/vault (or list a justified exception here)", name, x)
			}
			if used[name] == nil {
				used[name] = map[string]bool{}
			}
			used[name][x] = true
		}
	}
	var stale []string
	for name, xs := range exceptions {
		for _, x := range xs {
			if !used[name][x] {
				stale = append(stale, name+": "+x)
			}
		}
	}
	sort.Strings(stale)
	for _, s := range stale {
		t.Errorf("exception %s is no longer needed: remove it from the list", s)
	}
}
