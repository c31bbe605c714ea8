// Command fidelity builds the awkward tree of internal/treegen (names that
// are not UTF-8, colliding names, hard links, sparse files, xattrs, ACLs,
// FIFOs, devices, owners, nanosecond and pre-1970 times), snapshots and
// restores it with embassy and with restic, and prints what each tool
// gave back differently. Run as root for owners and device nodes:
//
//	go run ./bench/fidelity [-embassy BIN] [-restic BIN] [-dir D] [-json]
//
// The binaries default to bench/tools.sh's cache
// (${EMBASSY_CACHE:-$HOME/.cache/embassy}/bin). Exit 1 when embassy lost
// anything.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/digital-embassy/embassy/internal/treegen"
)

type result struct {
	Tool        string   `json:"tool"`
	Differences []string `json:"differences"`
	Error       string   `json:"error,omitempty"`
}

func main() {
	cache := os.Getenv("EMBASSY_CACHE")
	if cache == "" {
		h, _ := os.UserHomeDir()
		cache = filepath.Join(h, ".cache", "embassy")
	}
	embassy := flag.String("embassy", filepath.Join(cache, "bin", "embassy"), "embassy binary")
	restic := flag.String("restic", filepath.Join(cache, "bin", "restic"), "restic binary")
	dir := flag.String("dir", "", "scratch folder (default: a new temporary one, removed afterwards)")
	asJSON := flag.Bool("json", false, "print JSON")
	flag.Parse()
	work := *dir
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "embassy-fidelity-"); err != nil {
			fail(err)
		}
		defer os.RemoveAll(work)
	}
	src := filepath.Join(work, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		fail(err)
	}
	made, err := treegen.Build(src, treegen.Options{})
	if err != nil {
		fail(err)
	}
	root := os.Geteuid() == 0
	results := []result{
		run("embassy", func(target string) error { return viaEmbassy(*embassy, work, src, target) }, src, work, root),
		run("restic", func(target string) error { return viaRestic(*restic, work, src, target) }, src, work, root),
		run("restic --sparse", func(target string) error { return viaRestic(*restic, work, src, target, "--sparse") }, src, work, root),
	}
	if *asJSON {
		_ = json.NewEncoder(os.Stdout).Encode(map[string]any{"cases": made.Cases, "not_made": made.Missing, "owners_compared": root, "results": results})
	} else {
		sort.Strings(made.Cases)
		fmt.Printf("tree: %d cases (%s)\n", len(made.Cases), strings.Join(made.Cases, ", "))
		for c, why := range made.Missing {
			fmt.Printf("not made on this machine: %s (%s)\n", c, why)
		}
		if !root {
			fmt.Println("owners not compared (not root)")
		}
		fmt.Printf("\n| tool | differences after snapshot + restore |\n|---|---:|\n")
		for _, r := range results {
			n := fmt.Sprint(len(r.Differences))
			if r.Error != "" {
				n = "failed: " + r.Error
			}
			fmt.Printf("| %s | %s |\n", r.Tool, n)
		}
		for _, r := range results {
			if len(r.Differences) > 0 {
				fmt.Printf("\n%s:\n", r.Tool)
				for _, d := range r.Differences {
					fmt.Printf("  %s\n", d)
				}
			}
		}
	}
	if results[0].Error != "" || len(results[0].Differences) > 0 {
		os.Exit(1)
	}
}

func run(tool string, f func(target string) error, src, work string, root bool) result {
	target := filepath.Join(work, "restore-"+strings.NewReplacer(" ", "", "-", "").Replace(tool))
	r := result{Tool: tool}
	if err := f(target); err != nil {
		r.Error = err.Error()
		return r
	}
	r.Differences = treegen.Compare(src, target, treegen.CompareOptions{Owners: root, SkipRoot: true})
	if r.Differences == nil {
		r.Differences = []string{}
	}
	return r
}

func viaEmbassy(bin, work, src, target string) error {
	home := filepath.Join(work, "embassy-home")
	env := append(os.Environ(), "EMBASSY_HOME="+home)
	var recips []string
	for i := range 3 {
		out, err := cmd(env, bin, "custodian", "keygen", "-o", filepath.Join(work, fmt.Sprintf("c%d.key", i)))
		if err != nil {
			return err
		}
		recips = append(recips, strings.TrimSpace(out))
	}
	steps := [][]string{
		{"--home", home, "init", "--threshold", "2", "--custodian", recips[0], "--custodian", recips[1], "--custodian", recips[2], "--custodian-out", filepath.Join(work, "cards")},
		{"--home", home, "site", "add", "a", "--url", filepath.Join(work, "embassy-site"), "--jurisdiction", "LU"},
		{"--home", home, "snapshot", "tree", src, "--class", "internal"},
		{"--home", home, "restore", "tree", "--target", target},
	}
	for _, s := range steps {
		if _, err := cmd(env, bin, s...); err != nil {
			return err
		}
	}
	return nil
}

func viaRestic(bin, work, src, target string, restoreFlags ...string) error {
	repo := filepath.Join(work, "restic-repo")
	env := append(os.Environ(), "RESTIC_PASSWORD=fidelity", "RESTIC_REPOSITORY="+repo)
	steps := [][]string{{"restore", "latest:" + src, "--target", target}}
	steps[0] = append(steps[0], restoreFlags...)
	if _, err := os.Stat(repo); err != nil {
		steps = append([][]string{{"init"}, {"backup", src}}, steps...)
	}
	for _, s := range steps {
		if _, err := cmd(env, bin, s...); err != nil {
			return err
		}
	}
	return nil
}

func cmd(env []string, bin string, args ...string) (string, error) {
	c := exec.Command(bin, args...)
	c.Env = env
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", filepath.Base(bin), strings.Join(args, " "), err, lastLine(errb.String()))
	}
	return out.String(), nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "fidelity:", err)
	os.Exit(2)
}
