package cli

import (
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/protect"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/vault"
)

// TestHelpConfigComplete keeps 'embassy help config' complete: every key
// of embassy.yaml (home.Config and home.SiteConfig), every file a home's
// code names, and every entry a working home actually has.
func TestHelpConfigComplete(t *testing.T) {
	dir, h, _ := setup(t)
	help := mustRun(t, h, "help", "config")
	for _, typ := range []reflect.Type{reflect.TypeFor[home.Config](), reflect.TypeFor[home.SiteConfig]()} {
		for f := range typ.Fields() {
			key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if key != "" && !regexp.MustCompile(`(?m)^ +(- )?`+regexp.QuoteMeta(key)+`:( |$)`).MatchString(help) {
				t.Errorf("help config does not list the embassy.yaml key %q", key)
			}
		}
	}
	for _, name := range []string{home.ConfigFile, policy.SettingsFile, protect.FileName, protect.AlertsFile, vault.EventsFile,
		"agreements/", "pki/", "cache/", "locks/", "meta/", "keys/root-N.key", "log/", tlog.PolicyFile, tlog.TilesDir + "/", tlog.AlertsFile,
		vault.WatchConfigFile, path.Dir(vault.WatchStateFile) + "/", path.Base(vault.WatchStateFile), "exits/", "ui/", "links.json", "passkeys.json",
		"broker/", "operate-revoked.json", "cursors/", path.Dir(vault.ScheduleFile) + "/", "evidence/",
		"access/", "updates/", "sla/", vault.WorkloadsFile} {
		// a file is named as a word of its own (top level or in a folder's text)
		if !regexp.MustCompile(`(^|[\s(,/])` + regexp.QuoteMeta(name) + `([\s),:;]|$)`).MatchString(help) {
			t.Errorf("help config does not list %q", name)
		}
	}
	// a home that has been used: every top-level entry is documented
	src := writeSrc(t, dir, 2)
	mustRun(t, h, "snapshot", "ds", src, "--class", "C1-I1-A1")
	mustRun(t, h, "restore", "ds", "--target", filepath.Join(dir, "out"))
	ents, err := os.ReadDir(h)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() {
			name += "/"
		}
		end := `( |$)` // a file's own entry; a folder's may name a file in it (keys/root-N.key)
		if e.IsDir() {
			end = ``
		}
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(name) + end).MatchString(help) {
			t.Errorf("help config does not list %s, found in a home", name)
		}
	}
}
