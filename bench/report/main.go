// Command report turns the raw measurements of bench/run.sh into a table of
// medians, the ratios of embassy against the best peer, and
// bench/results/*.json and *.md files. Standard library only.
//
//	go run ./bench/report -results /tmp/embassy-bench/results.tsv -md out.md -json out.json
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Steps in display order, with the target embassy must meet: the ratio
// (peer seconds / embassy seconds) against the named peers must be >= min.
type stepDef struct {
	key, title string
	vs         []string // peers compared against (nil = best of all peers)
	min        float64
	alt        string // another step key whose peer figures count too
}

// The goals are issue 17's.
var steps = []stepDef{
	{"backup", "first snapshot", []string{"kopia", "kopia-zstd"}, 2.5, ""},
	{"incr", "snapshot after 1% changed", []string{"kopia", "kopia-zstd"}, 3.0, ""},
	{"restore", "full restore", nil, 2.0, "restore_nocache"},
	{"verify", "verify reading all data", nil, 2.5, ""},
}

var toolOrder = []string{"embassy", "restic", "kopia", "kopia-zstd"}

type sample struct {
	secs float64
	rss  int64
	cpu  float64 // user + sys seconds; -1 when not measured
}

type stepResult struct {
	Runs          []float64 `json:"runs_s"`
	MedianSeconds float64   `json:"median_s"`
	MinSeconds    float64   `json:"min_s"`
	MaxSeconds    float64   `json:"max_s"`
	MedianCPU     float64   `json:"median_cpu_s,omitempty"` // user + sys
	MedianRSSKB   int64     `json:"median_maxrss_kb"`
	MaxRSSKB      int64     `json:"max_maxrss_kb"`
}

type toolResult struct {
	Version    string                 `json:"version,omitempty"`
	Steps      map[string]*stepResult `json:"steps"`
	PeakRSSKB  int64                  `json:"peak_rss_kb"` // max over steps of the median peak RSS
	RepoBackup int64                  `json:"repo_bytes_after_backup,omitempty"`
	RepoIncr   int64                  `json:"repo_bytes_after_incr,omitempty"`
}

type ratio struct {
	Step      string  `json:"step"`
	Peer      string  `json:"peer"`
	PeerS     float64 `json:"peer_median_s"`
	EmbassyS  float64 `json:"embassy_median_s"`
	Speedup   float64 `json:"speedup"` // peer / embassy; > 1 means embassy is faster
	Target    float64 `json:"target"`
	MeetsGoal bool    `json:"meets_target"`
}

type report struct {
	GeneratedAt string                 `json:"generated_at"`
	Host        map[string]string      `json:"host"`
	Corpus      map[string]any         `json:"corpus"`
	Runs        int                    `json:"runs"`
	Tools       map[string]*toolResult `json:"tools"`
	Ratios      []ratio                `json:"ratios,omitempty"`
	Issue       []issueRow             `json:"issue17,omitempty"`
	MemoryRatio *ratio                 `json:"memory_vs_restic,omitempty"`
}

func main() {
	var (
		results  = flag.String("results", "", "results.tsv written by run.sh")
		versions = flag.String("versions", "", "tool<TAB>version lines")
		corpus   = flag.String("corpus", "", "key=value corpus description")
		load     = flag.String("load", "", "load average at the start")
		loadEnd  = flag.String("load-end", "", "load average at the end")
		runs     = flag.Int("runs", 0, "runs per step")
		jsonOut  = flag.String("json", "", "write JSON here")
		mdOut    = flag.String("md", "", "write markdown here")
	)
	flag.Parse()
	if *results == "" {
		fmt.Fprintln(os.Stderr, "report: -results is required")
		os.Exit(2)
	}
	rep, err := build(*results, *versions, *corpus, *load, *runs)
	if err == nil && *loadEnd != "" {
		rep.Host["loadavg_at_end"] = *loadEnd
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	md := markdown(rep)
	fmt.Print(md)
	if *mdOut != "" {
		must(os.WriteFile(*mdOut, []byte(md), 0o644))
	}
	if *jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		must(err)
		must(os.WriteFile(*jsonOut, append(b, '\n'), 0o644))
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func build(results, versions, corpus, load string, runs int) (*report, error) {
	rep := &report{
		GeneratedAt: time.Now().UTC().Format(time.RFC3339),
		Host:        map[string]string{"cpus": strconv.Itoa(runtime.NumCPU()), "os": runtime.GOOS + "/" + runtime.GOARCH},
		Corpus:      map[string]any{},
		Runs:        runs,
		Tools:       map[string]*toolResult{},
	}
	if load != "" {
		rep.Host["loadavg_at_start"] = load
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				rep.Host["cpu"] = strings.TrimSpace(l[strings.Index(l, ":")+1:])
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		rep.Host["kernel"] = strings.TrimSpace(string(b))
	}
	for _, kv := range strings.Fields(corpus) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				rep.Corpus[k] = n
			} else {
				rep.Corpus[k] = v
			}
		}
	}
	data := map[string]map[string][]sample{} // tool -> step -> samples
	f, err := os.Open(results)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 0; sc.Scan(); line++ {
		fs := strings.Split(sc.Text(), "\t")
		if line == 0 || len(fs) != 5 && len(fs) != 6 {
			continue
		}
		secs, err1 := strconv.ParseFloat(fs[3], 64)
		rss, err2 := strconv.ParseInt(fs[4], 10, 64)
		cpu, err3 := -1.0, error(nil)
		if len(fs) == 6 && fs[5] != "" {
			cpu, err3 = strconv.ParseFloat(fs[5], 64)
		}
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("%s:%d: bad row %q", results, line+1, sc.Text())
		}
		if data[fs[0]] == nil {
			data[fs[0]] = map[string][]sample{}
		}
		data[fs[0]][fs[1]] = append(data[fs[0]][fs[1]], sample{secs, rss, cpu})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for tool, bySteps := range data {
		tr := &toolResult{Steps: map[string]*stepResult{}}
		for step, ss := range bySteps {
			switch step {
			case "repo_backup":
				tr.RepoBackup = int64(median(secsOf(ss)))
				continue
			case "repo_incr":
				tr.RepoIncr = int64(median(secsOf(ss)))
				continue
			}
			xs := secsOf(ss)
			var rs, cs []float64
			var maxRSS int64
			for _, s := range ss {
				rs = append(rs, float64(s.rss))
				maxRSS = max(maxRSS, s.rss)
				if s.cpu >= 0 {
					cs = append(cs, s.cpu)
				}
			}
			sr := &stepResult{Runs: xs, MedianSeconds: round3(median(xs)), MinSeconds: slices.Min(xs), MaxSeconds: slices.Max(xs),
				MedianCPU: round3(median(cs)), MedianRSSKB: int64(median(rs)), MaxRSSKB: maxRSS}
			tr.Steps[step] = sr
			if slices.ContainsFunc(steps, func(sd stepDef) bool { return sd.key == step }) {
				tr.PeakRSSKB = max(tr.PeakRSSKB, sr.MedianRSSKB) // the main corpus's steps
			}
		}
		rep.Tools[tool] = tr
	}
	if versions != "" {
		if b, err := os.ReadFile(versions); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if t, v, ok := strings.Cut(l, "\t"); ok && rep.Tools[t] != nil {
					rep.Tools[t].Version = v
				}
			}
		}
	}
	emb := rep.Tools["embassy"]
	if emb == nil {
		return rep, nil
	}
	for _, sd := range steps {
		es := emb.Steps[sd.key]
		if es == nil {
			continue
		}
		best, bestS := "", math.Inf(1)
		for _, t := range toolOrder {
			if t == "embassy" || rep.Tools[t] == nil || rep.Tools[t].Steps[sd.key] == nil {
				continue
			}
			if sd.vs != nil && !slices.Contains(sd.vs, t) {
				continue
			}
			if s := rep.Tools[t].Steps[sd.key].MedianSeconds; s < bestS {
				best, bestS = t, s
			}
			if a := rep.Tools[t].Steps[sd.alt]; sd.alt != "" && a != nil && a.MedianSeconds < bestS {
				best, bestS = t+", cache off", a.MedianSeconds
			}
		}
		if best == "" {
			continue
		}
		sp := bestS / math.Max(es.MedianSeconds, 0.001)
		rep.Ratios = append(rep.Ratios, ratio{Step: sd.key, Peer: best, PeerS: bestS, EmbassyS: es.MedianSeconds,
			Speedup: round3(sp), Target: sd.min, MeetsGoal: meets(sp, sd.min)})
	}
	if r := rep.Tools["restic"]; r != nil && r.PeakRSSKB > 0 && emb.PeakRSSKB > 0 {
		sp := float64(r.PeakRSSKB) / float64(emb.PeakRSSKB)
		rep.MemoryRatio = &ratio{Step: "peak_rss", Peer: "restic", PeerS: float64(r.PeakRSSKB), EmbassyS: float64(emb.PeakRSSKB),
			Speedup: round3(sp), Target: 1, MeetsGoal: float64(emb.PeakRSSKB) <= float64(r.PeakRSSKB)}
	}
	rep.Issue = issueRows(rep)
	return rep, nil
}

// meets: a target of 1 means "faster than" (strictly), larger ones "at least".
func meets(speedup, target float64) bool {
	if target <= 1 {
		return round3(speedup) > target
	}
	return speedup >= target
}

func targetText(target float64) string {
	if target <= 1 {
		return fmt.Sprintf(">%.1fx", target)
	}
	return fmt.Sprintf("≥%.1fx", target)
}

func secsOf(ss []sample) []float64 {
	xs := make([]float64, len(ss))
	for i, s := range ss {
		xs[i] = s.secs
	}
	return xs
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

func human(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
	default:
		return fmt.Sprintf("%.0f KiB", float64(b)/(1<<10))
	}
}

func markdown(rep *report) string {
	var tools []string
	for _, t := range toolOrder {
		if rep.Tools[t] != nil {
			tools = append(tools, t)
		}
	}
	var b strings.Builder
	c := rep.Corpus
	files, _ := c["files"].(int64)
	bytes, _ := c["bytes"].(int64)
	fmt.Fprintf(&b, "Corpus: %s (%d files, %.2f GB), seed %v, %v of the files changed for the incremental; "+
		"medians of %d run(s), page cache warm, %s CPUs (%s).\n\n",
		human(bytes), files, float64(bytes)/1e9, c["seed"], c["mutate"], rep.Runs, rep.Host["cpus"], rep.Host["cpu"])
	fmt.Fprintf(&b, "| step |")
	for _, t := range tools {
		fmt.Fprintf(&b, " %s |", t)
	}
	fmt.Fprintf(&b, "\n|---|")
	for range tools {
		fmt.Fprintf(&b, "---:|")
	}
	fmt.Fprintln(&b)
	rows := slices.Clone(steps)
	rows = slices.Insert(rows, 3, stepDef{key: "restore_nocache", title: "full restore, content cache off"})
	for _, sd := range rows {
		if !slices.ContainsFunc(tools, func(t string) bool { return rep.Tools[t].Steps[sd.key] != nil }) {
			continue
		}
		fmt.Fprintf(&b, "| %s |", sd.title)
		for _, t := range tools {
			if s := rep.Tools[t].Steps[sd.key]; s != nil {
				fmt.Fprintf(&b, " %s |", fmtSecs(s.MedianSeconds))
			} else {
				fmt.Fprintf(&b, " – |")
			}
		}
		fmt.Fprintln(&b)
	}
	fmt.Fprintf(&b, "| peak memory (RSS), first snapshot |")
	for _, t := range tools {
		if s := rep.Tools[t].Steps["backup"]; s != nil {
			fmt.Fprintf(&b, " %.0f MB |", float64(s.MedianRSSKB)*1024/1e6)
		} else {
			fmt.Fprintf(&b, " – |")
		}
	}
	fmt.Fprintf(&b, "\n| peak memory (RSS), any step |")
	for _, t := range tools {
		fmt.Fprintf(&b, " %.0f MB |", float64(rep.Tools[t].PeakRSSKB)*1024/1e6)
	}
	fmt.Fprintf(&b, "\n| repository size after 1st / 2nd snapshot |")
	for _, t := range tools {
		tr := rep.Tools[t]
		fmt.Fprintf(&b, " %s / %s |", human(tr.RepoBackup), human(tr.RepoIncr))
	}
	fmt.Fprintln(&b)
	if len(rep.Ratios) > 0 {
		fmt.Fprintf(&b, "\n| embassy vs best peer | peer | speed-up | target | met |\n|---|---|---:|---:|:---:|\n")
		for _, r := range rep.Ratios {
			title := r.Step
			for _, sd := range steps {
				if sd.key == r.Step {
					title = sd.title
				}
			}
			fmt.Fprintf(&b, "| %s | %s (%s vs %s) | %.2fx | %s | %s |\n", title, r.Peer, fmtSecs(r.PeerS), fmtSecs(r.EmbassyS), r.Speedup, targetText(r.Target), yes(r.MeetsGoal))
		}
		if m := rep.MemoryRatio; m != nil {
			fmt.Fprintf(&b, "| peak memory | restic (%.0f vs %.0f MB) | %.2fx | ≤restic | %s |\n", m.PeerS*1024/1e6, m.EmbassyS*1024/1e6, m.Speedup, yes(m.MeetsGoal))
		}
	}
	if cpuRows(&b, rep, tools, rows); len(rep.Issue) > 0 {
		fmt.Fprintf(&b, "\nIssue 17's table, every row from this run:\n\n| row | embassy | peer | ratio | goal | met |\n|---|---:|---:|---:|---|:---:|\n")
		for _, r := range rep.Issue {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.Row, r.Embassy, r.Peer, r.Ratio, r.Goal, r.Met)
		}
	}
	fmt.Fprintf(&b, "\nVersions:")
	for _, t := range tools {
		v := rep.Tools[t].Version
		if v == "" {
			v = "?"
		}
		fmt.Fprintf(&b, " %s: `%s`;", t, v)
	}
	if rep.Tools["kopia-zstd"] != nil {
		fmt.Fprintf(&b, " kopia-zstd = kopia with `--compression=zstd-fastest`.")
	}
	fmt.Fprintf(&b, " Load average %s at the start, %s at the end. Generated %s by bench/run.sh.\n",
		rep.Host["loadavg_at_start"], rep.Host["loadavg_at_end"], rep.GeneratedAt)
	return b.String()
}

func fmtSecs(s float64) string {
	if s < 10 {
		return fmt.Sprintf("%.2f s", s)
	}
	return fmt.Sprintf("%.1f s", s)
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}
