package failover

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestParsePlanRefusals: every invalid field is named by its path, and
// relative paths resolve against the plan's folder while URLs with a
// scheme are kept.
func TestParsePlanRefusals(t *testing.T) {
	good := "name: d\nsites:\n  - {name: lu, url: site-lu}\n  - {name: ch, url: 's3://h:9000/b?tls=false'}\ndatasets:\n  - {name: reg, rpo: 24h}\n"
	p, err := ParsePlan(strings.NewReader(good+"scratch: tmp\npolicy: pol.yaml\nlog: {dir: log, policy: log.yaml}\ncustodians: [a.key]\n"), "/plans")
	if err != nil {
		t.Fatal(err)
	}
	if p.Sites[0].URL != filepath.Join("/plans", "site-lu") || p.Sites[1].URL != "s3://h:9000/b?tls=false" || p.Sites[0].Jurisdiction != "ZZ" {
		t.Fatalf("sites: %+v", p.Sites)
	}
	if p.Scratch != "/plans/tmp" || p.Policy != "/plans/pol.yaml" || p.Log.Dir != "/plans/log" || p.Log.Policy != "/plans/log.yaml" || p.Custodians[0] != "/plans/a.key" {
		t.Fatalf("relative paths: %+v %+v", p, p.Log)
	}
	for name, c := range map[string]struct{ yaml, want string }{
		"no sites":      {"name: d\ndatasets:\n  - {name: reg, rpo: 24h}\n", "plan sites: list at least one site"},
		"site no url":   {"sites:\n  - {name: lu}\ndatasets:\n  - {name: reg, rpo: 24h}\n", "plan sites[0]: give name and url"},
		"no datasets":   {"sites:\n  - {name: lu, url: x}\n", "plan datasets: list the critical datasets"},
		"bad name":      {"sites:\n  - {name: lu, url: x}\ndatasets:\n  - {name: 'a/b', rpo: 24h}\n", "plan datasets[0].name"},
		"no rpo":        {"sites:\n  - {name: lu, url: x}\ndatasets:\n  - {name: reg}\n", "plan datasets[0].rpo"},
		"service":       {good + "service:\n  population: {dataset: other, path: p.csv}\n", "plan service.population"},
		"service path":  {good + "service:\n  land: {dataset: reg}\n", "plan service.land"},
		"probe":         {good + "probes:\n  - {register: taxes, key: '1'}\n", "plan probes[0].register: \"taxes\""},
		"log half":      {good + "log: {dir: log}\n", "plan log: give dir"},
		"negative rto":  {good + "rto: -1h\n", "plan rto: must not be negative"},
		"unknown field": {good + "colour: red\n", "field colour not found"},
		"not yaml":      {"sites: [\n", "plan:"},
	} {
		_, err := ParsePlan(strings.NewReader(c.yaml), "/plans")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error naming %q", name, err, c.want)
		}
	}
	if _, err := LoadPlan(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("a missing plan file was loaded")
	}
}

// TestHasScheme: only NAME:// with a name of two or more letters is a URL;
// a Windows-like drive letter or a path with a colon later is not.
func TestHasScheme(t *testing.T) {
	for u, want := range map[string]bool{
		"s3://h/b": true, "file:///x": true, "https://w": true,
		"c://x": false, "dir/a:b": false, "plain": false, "x:": false, "ab:/": false,
	} {
		if got := hasScheme(u); got != want {
			t.Errorf("hasScheme(%q) = %v, want %v", u, got, want)
		}
	}
}

// TestEnvFailed: a rebuild fails when any check did.
func TestEnvFailed(t *testing.T) {
	var e Env
	if e.Failed() {
		t.Fatal("no checks failed")
	}
	e.add(Check{Check: "site", Subject: "a", OK: true})
	if e.Failed() {
		t.Fatal("a passing check failed the rebuild")
	}
	e.add(Check{Check: "site", Subject: "b"})
	if !e.Failed() {
		t.Fatal("a failed check did not fail the rebuild")
	}
}
