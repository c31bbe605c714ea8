package main

import (
	"fmt"
	"strings"
)

// issueRow is one row of issue 17's table as measured in this run.
type issueRow struct {
	Row     string `json:"row"`
	Embassy string `json:"embassy"`
	Peer    string `json:"peer"`
	Ratio   string `json:"ratio"`
	Goal    string `json:"goal"`
	Met     string `json:"met"` // yes, no, or "-" when not measured in this run
}

// cpuRows prints the median user+sys CPU seconds of each step: steadier
// than wall time on a shared machine.
func cpuRows(b *strings.Builder, rep *report, tools []string, rows []stepDef) {
	fmt.Fprintf(b, "\nCPU time (user + sys, medians):\n\n| step |")
	for _, t := range tools {
		fmt.Fprintf(b, " %s |", t)
	}
	fmt.Fprintf(b, "\n|---|")
	for range tools {
		fmt.Fprintf(b, "---:|")
	}
	fmt.Fprintln(b)
	for _, sd := range rows {
		fmt.Fprintf(b, "| %s |", sd.title)
		for _, t := range tools {
			if s := rep.Tools[t].Steps[sd.key]; s != nil && s.MedianCPU > 0 {
				fmt.Fprintf(b, " %.2f s |", s.MedianCPU)
			} else {
				fmt.Fprintf(b, " – |")
			}
		}
		fmt.Fprintln(b)
	}
}

func (rep *report) step(tool, key string) *stepResult {
	if t := rep.Tools[tool]; t != nil {
		return t.Steps[key]
	}
	return nil
}

func mb(kb int64) string { return fmt.Sprintf("%.0f MB", float64(kb)*1024/1e6) }

// issueRows builds issue 17's table from the run's medians.
func issueRows(rep *report) []issueRow {
	var out []issueRow
	ratioOf := func(key string) *ratio {
		for i := range rep.Ratios {
			if rep.Ratios[i].Step == key {
				return &rep.Ratios[i]
			}
		}
		return nil
	}
	for _, sd := range steps {
		r := ratioOf(sd.key)
		if r == nil {
			continue
		}
		row := issueRow{Row: sd.title, Embassy: fmtSecs(r.EmbassyS), Peer: fmt.Sprintf("%s %s", r.Peer, fmtSecs(r.PeerS)),
			Ratio: fmt.Sprintf("%.2fx", r.Speedup), Goal: fmt.Sprintf("≥ %.1fx %s", sd.min, peerGoal(sd)), Met: yes(r.MeetsGoal)}
		if sd.key == "backup" {
			if rs := rep.step("restic", "backup"); rs != nil {
				sp := rs.MedianSeconds / max(r.EmbassyS, 0.001)
				row.Peer += fmt.Sprintf(", restic %s", fmtSecs(rs.MedianSeconds))
				row.Ratio += fmt.Sprintf(", %.2fx restic", sp)
				row.Goal += ", ≥ 5x restic"
				row.Met = yes(r.MeetsGoal && sp >= 5)
			}
		}
		if sd.key == "incr" {
			// The changed bytes (~2 MB at 1% of the 512 MiB corpus) read
			// from the page cache in a few ms: 0.11 s is the bound.
			row.Goal += ", < 0.1 s + reading the changed bytes"
			row.Met = yes(r.MeetsGoal && r.EmbassyS < 0.11)
		}
		out = append(out, row)
	}
	for _, sh := range []struct{ key, title string }{{"sparse", "5 GiB sparse file, 40 MiB of data"}, {"tiny", "tiny files (100,000; 10,000 with -quick)"}} {
		for _, st := range []string{"snapshot", "restore"} {
			e, r := rep.step("embassy", sh.key+"_"+st), rep.step("restic", sh.key+"_"+st)
			if e == nil || r == nil {
				continue
			}
			sp := r.MedianSeconds / max(e.MedianSeconds, 0.001)
			row := issueRow{Row: sh.title + ": " + st, Embassy: fmt.Sprintf("%s, %s", fmtSecs(e.MedianSeconds), mb(e.MedianRSSKB)),
				Peer: fmt.Sprintf("restic %s, %s", fmtSecs(r.MedianSeconds), mb(r.MedianRSSKB)), Ratio: fmt.Sprintf("%.2fx", sp)}
			if sh.key == "sparse" {
				row.Goal, row.Met = "faster than restic", yes(sp > 1)
				if st == "restore" {
					ea, ra := rep.step("embassy", "sparse_alloc"), rep.step("restic", "sparse_alloc")
					if ea != nil && ra != nil {
						row.Embassy += fmt.Sprintf(", %.0f MiB allocated", ea.MedianSeconds/(1<<20))
						row.Peer += fmt.Sprintf(", %.0f MiB allocated", ra.MedianSeconds/(1<<20))
						row.Goal += ", holes kept"
						row.Met = yes(sp > 1 && ea.MedianSeconds < 64<<20)
					}
				}
			} else {
				row.Goal = "≥ 1.5x restic, memory ≤ restic"
				row.Met = yes(sp >= 1.5 && e.MedianRSSKB <= r.MedianRSSKB)
			}
			out = append(out, row)
		}
	}
	if emb := rep.Tools["embassy"]; emb != nil && emb.PeakRSSKB > 0 {
		row := issueRow{Row: "peak memory, main corpus (any step)", Embassy: mb(emb.PeakRSSKB), Goal: "≤ 100 MB",
			Met: yes(float64(emb.PeakRSSKB)*1024 <= 100e6)}
		if r := rep.Tools["restic"]; r != nil {
			row.Peer = "restic " + mb(r.PeakRSSKB)
		}
		out = append(out, row)
	}
	bs, br := rep.step("embassy", "bigvault_snapshot"), rep.step("embassy", "bigvault_restore")
	row := issueRow{Row: "home memory, vault of 10 million blobs: snapshot / restore", Goal: "≤ 256 MB each", Met: "-",
		Embassy: "not measured (pass -bigvault HOME)"}
	if bs != nil && br != nil {
		row.Embassy = fmt.Sprintf("%s / %s (%s / %s)", mb(bs.MedianRSSKB), mb(br.MedianRSSKB), fmtSecs(bs.MedianSeconds), fmtSecs(br.MedianSeconds))
		row.Met = yes(float64(bs.MedianRSSKB)*1024 <= 256e6 && float64(br.MedianRSSKB)*1024 <= 256e6)
	}
	out = append(out, row)
	eh, ed := rep.step("embassy", "erasure_healthy"), rep.step("embassy", "erasure_degraded")
	bytes, _ := rep.Corpus["bytes"].(int64)
	if eh != nil && ed != nil && bytes > 0 {
		h := float64(bytes) / (1 << 20) / max(eh.MedianSeconds, 0.001)
		d := float64(bytes) / (1 << 20) / max(ed.MedianSeconds, 0.001)
		out = append(out, issueRow{Row: "restore through erasure 2+1 of three embassyd (loopback)",
			Embassy: fmt.Sprintf("%.0f MiB/s healthy, %.0f MiB/s one member down (%.0f%%)", h, d, 100*d/h),
			Goal:    "≥ 400 MiB/s, degraded ≥ 90%", Met: yes(h >= 400 && d >= 0.9*h)})
	}
	return out
}

func peerGoal(sd stepDef) string {
	if len(sd.vs) > 0 {
		return "kopia"
	}
	return "best peer"
}
