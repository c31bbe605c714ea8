package plan

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"strings"
	"sync"
)

// WriteHTML renders the report as one printable HTML page with inline SVG
// charts (no scripts). Every string from the scenario is escaped: by
// html/template in the page, by html.EscapeString inside the SVG.
func (r *Report) WriteHTML(w io.Writer) error {
	return pageTmpl().Execute(w, map[string]any{
		"R":          r,
		"Prereqs":    Prerequisites,
		"Spectrum":   template.HTML(r.spectrumSVG()),
		"ScoreChart": template.HTML(r.scoreSVG()),
		"Frontier":   template.HTML(r.frontierSVG()),
		"SimChart":   template.HTML(r.simSVG()),
	})
}

var esc = html.EscapeString

var pageTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("report").Funcs(template.FuncMap{
		"pct":   pct,
		"money": money,
		"f2":    func(x float64) string { return fmt.Sprintf("%.2f", x) },
		"heat": func(x float64) template.CSS {
			// red (0) to green (1)
			h := int(math.Round(clamp01(x) * 120))
			return template.CSS(fmt.Sprintf("background:hsl(%d,70%%,80%%)", h))
		},
		"join":  strings.Join,
		"score": func(sc SiteScore, p string) float64 { return sc.Scores[p] },
	}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Sovereignty plan: {{.R.Scenario}}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;color:#222;line-height:1.4}
h1{font-size:1.5rem}h2{font-size:1.15rem;border-bottom:1px solid #ccc;margin-top:2rem}
table{border-collapse:collapse;width:100%;font-size:.85rem}td,th{border:1px solid #ccc;padding:.2rem .4rem;text-align:left}
td.n{text-align:right}.bad{color:#a00;font-weight:600}.ok{color:#070}.small{font-size:.8rem;color:#555}
svg{max-width:100%;height:auto}section{page-break-inside:avoid}
@media print{body{margin:0;max-width:none}a{color:inherit}}
</style></head><body>
<h1>Sovereignty plan: {{.R.Scenario}} ({{.R.State}})</h1>
{{with .R.Infeasible}}<p class="bad">{{.Error}}. {{.Hint}}.</p>{{end}}
<section><h2>Spectrum position per building block</h2>
{{.Spectrum}}
<table><tr><th>block</th><th>mode</th><th>position</th><th>partners</th><th>dependencies (fallback)</th></tr>
{{range .R.Posture}}<tr><td>{{.Block}}</td><td>{{.Mode}}</td><td class="n">{{f2 .Position}}{{if .Derived}} (from plan){{end}}</td>
<td>{{range .Partners}}{{.Name}}{{with .Agreement}} [{{.}}]{{end}}; {{end}}</td>
<td>{{range .Dependencies}}{{.Name}} ({{.Kind}}{{if .SwitchOff}}, <span class="bad">switch-off risk</span>{{end}}): {{if .Fallback}}{{.Fallback}}{{else}}<span class="bad">no fallback</span>{{end}}<br>{{end}}</td></tr>
{{end}}</table></section>
<section><h2>Scores per site and prerequisite</h2>
{{.ScoreChart}}
<table><tr><th>site</th><th>total</th>{{range .Prereqs}}<th>{{.}}</th>{{end}}<th>risk</th><th>status</th></tr>
{{$p := .Prereqs}}{{range .R.Scores}}{{$sc := .}}<tr><td>{{.Site}}</td><td class="n">{{f2 .Total}}</td>
{{range $p}}<td class="n" style="{{heat (score $sc .)}}">{{f2 (score $sc .)}}</td>{{end}}
<td class="n">{{pct .Risk}}</td><td>{{if .Approved}}<span class="ok">approved</span>{{else}}<span class="bad">not approved</span>{{end}}
{{range .Gaps}}<br><span class="{{if .Mandatory}}bad{{else}}small{{end}}">{{.}}</span>{{end}}</td></tr>
{{end}}</table>
<p class="small">Weights: {{range $k, $v := .R.Weights}}{{$k}} {{$v}}; {{end}}</p></section>
{{with .R.Placement}}<section><h2>Placement</h2>
<p>{{.Method}}; {{if .Optimal}}proven optimal{{else}}best found within the time limit, not proven optimal{{end}};
cost {{money .Cost}} {{$.R.Currency}} a year (fixed {{money .FixedCost}}, storage {{money .StorageCost}}).</p>
<table><tr><th>class</th><th>coding</th><th>sites</th><th>jurisdictions</th><th>stored TB</th><th>restore h</th></tr>
{{range .Classes}}<tr><td>{{.Class}}</td><td>{{if eq .Scheme "replica"}}{{len .Sites}} replicas{{else}}erasure {{.Scheme}}{{end}}</td><td>{{join .Sites ", "}}</td><td>{{join .Jurisdictions ", "}}</td><td class="n">{{f2 .StorageTB}}</td><td class="n">{{f2 .RestoreHours}}</td></tr>
{{end}}</table></section>{{end}}
{{if .R.Frontier}}<section><h2>Cost&ndash;resilience frontier</h2>
{{.Frontier}}
<table><tr><th></th><th>tolerate</th><th>risk weight</th><th>cost / year</th><th>sites</th><th>critical access lost (95% CI)</th></tr>
{{range .R.Frontier}}<tr><td>{{if .Pareto}}&#9733;{{end}}</td><td class="n">{{.Tolerate}}</td><td class="n">{{money .RiskWeight}}</td><td class="n">{{money .Cost}}</td><td class="n">{{.Sites}}</td><td class="n">{{pct .AccessLoss.P}} [{{pct .AccessLoss.Low}}, {{pct .AccessLoss.High}}]</td></tr>
{{end}}</table></section>{{end}}
{{with .R.Simulation}}<section><h2>Failure simulation</h2>
<p>{{.Trials}} trials, seed {{.Seed}}; the home is assumed lost, so the sites alone must serve and restore each class.</p>
{{$.SimChart}}
<table><tr><th>class</th><th>access lost (95% CI)</th><th>data lost (95% CI)</th></tr>
{{range .Classes}}<tr><td>{{.Class}}</td><td class="n">{{pct .AccessLoss.P}} [{{pct .AccessLoss.Low}}, {{pct .AccessLoss.High}}]</td><td class="n">{{pct .DataLoss.P}} [{{pct .DataLoss.Low}}, {{pct .DataLoss.High}}]</td></tr>
{{end}}</table></section>{{end}}
{{if .R.Findings}}<section><h2>Findings</h2><ul>{{range .R.Findings}}<li>{{.}}</li>{{end}}</ul></section>{{end}}
{{if .R.Sources}}<section><h2>Sources</h2><ol>{{range .R.Sources}}<li>[{{.ID}}] <a href="{{.URL}}">{{.Title}}</a></li>{{end}}</ol>
{{if .R.Estimates}}<p class="small">Estimates, not sourced: {{range .R.Estimates}}{{.}}; {{end}}</p>{{end}}</section>{{end}}
</body></html>
`))
})

func (r *Report) spectrumSVG() string {
	var b strings.Builder
	h := 40 + 36*len(r.Posture)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 600 %d" role="img" aria-label="spectrum position per building block">`, h)
	b.WriteString(`<text x="130" y="18" font-size="12">domestic ownership</text><text x="590" y="18" font-size="12" text-anchor="end">international partnership</text>`)
	for i, p := range r.Posture {
		y := 40 + 36*i
		x := 130 + p.Position*460
		fmt.Fprintf(&b, `<text x="0" y="%d" font-size="13">%s</text>`, y+5, esc(p.Block))
		fmt.Fprintf(&b, `<line x1="130" y1="%d" x2="590" y2="%d" stroke="#999" stroke-width="4"/>`, y, y)
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%d" r="8" fill="#2a6"/><text x="%.1f" y="%d" font-size="11" text-anchor="middle">%.2f %s</text>`, x, y, x, y+22, p.Position, esc(p.Mode))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func (r *Report) scoreSVG() string {
	var b strings.Builder
	h := 20 + 22*len(r.Scores)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 600 %d" role="img" aria-label="total score per site">`, h)
	for i, sc := range r.Scores {
		y := 10 + 22*i
		col := "#2a6"
		if !sc.Approved {
			col = "#c33"
		}
		fmt.Fprintf(&b, `<text x="0" y="%d" font-size="12">%s</text>`, y+13, esc(sc.Site))
		fmt.Fprintf(&b, `<rect x="150" y="%d" width="%.1f" height="16" fill="%s"/><text x="%.1f" y="%d" font-size="11">%.2f</text>`, y, sc.Total*400, col, 155+sc.Total*400, y+13, sc.Total)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func (r *Report) frontierSVG() string {
	if len(r.Frontier) == 0 {
		return ""
	}
	minC, maxC, maxP := math.Inf(1), 0.0, 0.0
	for _, p := range r.Frontier {
		minC, maxC, maxP = math.Min(minC, p.Cost), math.Max(maxC, p.Cost), math.Max(maxP, p.AccessLoss.High)
	}
	if maxC == minC {
		maxC = minC + 1
	}
	if maxP == 0 {
		maxP = 1e-4
	}
	X := func(c float64) float64 { return 60 + (c-minC)/(maxC-minC)*500 }
	Y := func(p float64) float64 { return 250 - p/maxP*220 }
	var b strings.Builder
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 600 290" role="img" aria-label="cost against probability of losing access">`)
	b.WriteString(`<line x1="60" y1="250" x2="570" y2="250" stroke="#333"/><line x1="60" y1="20" x2="60" y2="250" stroke="#333"/>`)
	fmt.Fprintf(&b, `<text x="315" y="285" font-size="12" text-anchor="middle">cost per year (%s), %s to %s</text>`, esc(r.Currency), money(minC), money(maxC))
	fmt.Fprintf(&b, `<text x="10" y="15" font-size="12">P(critical access lost), max %s</text>`, pct(maxP))
	var line []string
	for _, p := range r.Frontier {
		col := "#999"
		if p.Pareto {
			col = "#2a6"
			line = append(line, fmt.Sprintf("%.1f,%.1f", X(p.Cost), Y(p.AccessLoss.P)))
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`, X(p.Cost), Y(p.AccessLoss.Low), X(p.Cost), Y(p.AccessLoss.High), col)
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="5" fill="%s"><title>tolerate %d, %d sites, %s %s</title></circle>`, X(p.Cost), Y(p.AccessLoss.P), col, p.Tolerate, p.Sites, money(p.Cost), esc(r.Currency))
	}
	if len(line) > 1 {
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="#2a6" stroke-dasharray="4 3"/>`, strings.Join(line, " "))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func (r *Report) simSVG() string {
	if r.Simulation == nil {
		return ""
	}
	maxP := 1e-4
	for _, c := range r.Simulation.Classes {
		maxP = math.Max(maxP, math.Max(c.AccessLoss.High, c.DataLoss.High))
	}
	var b strings.Builder
	h := 30 + 34*len(r.Simulation.Classes)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 600 %d" role="img" aria-label="probability of losing access or data per class">`, h)
	fmt.Fprintf(&b, `<text x="180" y="12" font-size="11"><tspan fill="#c73">access lost</tspan> / <tspan fill="#a22">data lost</tspan>, scale 0 to %s, whiskers 95%% CI</text>`, pct(maxP))
	W := func(p float64) float64 { return p / maxP * 380 }
	for i, c := range r.Simulation.Classes {
		y := 22 + 34*i
		fmt.Fprintf(&b, `<text x="0" y="%d" font-size="12">%s</text>`, y+14, esc(c.Class))
		for j, e := range []Estimate{c.AccessLoss, c.DataLoss} {
			col := []string{"#c73", "#a22"}[j]
			yy := y + j*14
			fmt.Fprintf(&b, `<rect x="180" y="%d" width="%.1f" height="11" fill="%s"/>`, yy, W(e.P), col)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#000"/>`, 180+W(e.Low), yy+5, 180+W(e.High), yy+5)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="10">%s</text>`, 186+W(e.High), yy+10, pct(e.P))
		}
	}
	b.WriteString(`</svg>`)
	return b.String()
}
