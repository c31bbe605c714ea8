package home

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/keys"
)

// TestCreateOpenSave: a new home round-trips its configuration in a
// private file, a second Create is refused, and a missing or broken home
// is an error with the way out.
func TestCreateOpenSave(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home")
	if Exists(dir) {
		t.Fatal("an empty folder is a home")
	}
	cfg := Config{Home: "h1", HomeState: "EE", Sites: []SiteConfig{{Name: "lu", URL: "/srv/lu", Jurisdiction: "LU"}}}
	h, err := Create(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !Exists(dir) {
		t.Fatal("Create made no home")
	}
	if fi, _ := os.Stat(filepath.Join(dir, ConfigFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("config mode %v", fi.Mode().Perm())
	}
	if _, err := Create(dir, cfg); err == nil || !strings.Contains(hint.Of(err), "another --home") {
		t.Fatalf("second Create: %v", err)
	}
	back, err := Open(dir)
	if err != nil || back.Config.Home != "h1" || back.Config.HomeState != "EE" {
		t.Fatalf("Open: %+v %v", back, err)
	}
	if sc, i := back.Site("lu"); sc == nil || i != 0 || sc.URL != "/srv/lu" {
		t.Fatalf("Site(lu) = %+v, %d", sc, i)
	}
	if sc, i := back.Site("ch"); sc != nil || i != -1 {
		t.Fatal("found a site that is not registered")
	}
	if back.MetaDir() != filepath.Join(dir, "meta") || back.CacheDir() != filepath.Join(dir, "cache") {
		t.Fatal("meta or cache folder moved")
	}
	h.Config.Compression = "fast"
	if err := h.Save(); err == nil {
		t.Fatal("saved an invalid configuration")
	}
	if _, err := Open(filepath.Join(t.TempDir(), "none")); err == nil || !strings.Contains(hint.Of(err), "embassy init") {
		t.Fatalf("missing home: %v", err)
	}
	os.WriteFile(filepath.Join(dir, ConfigFile), []byte("sites: [oops\n"), 0o600)
	if _, err := Open(dir); err == nil || hint.Of(err) != "fix the configuration file" {
		t.Fatalf("broken config: %v", err)
	}
	t.Setenv("EMBASSY_HOME", "/tmp/elsewhere")
	if d, err := DefaultDir(); err != nil || d != "/tmp/elsewhere" {
		t.Fatalf("DefaultDir: %q %v", d, err)
	}
}

// TestRootKeyFiles: root keys are stored privately and load back; a file
// swapped in from another home or another epoch, or damaged, is refused
// with a key error, never used.
func TestRootKeyFiles(t *testing.T) {
	dir := t.TempDir()
	h := &Home{Dir: dir, Config: Config{Home: "h1"}}
	r1, _ := keys.NewRoot(1)
	r2, _ := keys.NewRoot(2)
	for _, r := range []*keys.Root{r2, r1} {
		if err := h.SaveRoot("h1", r); err != nil {
			t.Fatal(err)
		}
	}
	if got := h.Roots(); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("Roots = %v", got)
	}
	got, err := h.LoadRoot(1)
	if err != nil || got.Secret != r1.Secret || got.Epoch != 1 {
		t.Fatalf("LoadRoot(1): %v", err)
	}
	if fi, _ := os.Stat(h.rootPath(1)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("root key mode %v", fi.Mode().Perm())
	}
	b1, _ := os.ReadFile(h.rootPath(1))
	other := &Home{Dir: t.TempDir(), Config: Config{Home: "h2"}}
	other.SaveRoot("h2", r1)
	b2, _ := os.ReadFile(other.rootPath(1))
	for name, c := range map[string]struct {
		epoch uint32
		data  []byte
		want  string
	}{
		"other home":  {1, b2, "belongs to home h2"},
		"other epoch": {2, b1, "holds the key of epoch 1"},
		"not json":    {1, []byte("root"), "malformed"},
		"bad base64":  {1, []byte(`{"format":"embassy.rootkey.v1","home":"h1","epoch":1,"secret":"!!"}`), "bad secret encoding"},
		"short":       {1, []byte(`{"format":"embassy.rootkey.v1","home":"h1","epoch":1,"secret":"AAAA"}`), "root key file"},
	} {
		os.WriteFile(h.rootPath(c.epoch), c.data, 0o600)
		_, err := h.LoadRoot(c.epoch)
		if err == nil || !strings.Contains(err.Error(), c.want) || hint.CodeOf(err) != hint.CodeKey {
			t.Errorf("%s: %v, want a key error naming %q", name, err, c.want)
		}
	}
	if err := h.DeleteRoot(2); err != nil {
		t.Fatal(err)
	}
	if err := h.DeleteRoot(2); err != nil {
		t.Fatalf("deleting a deleted root key: %v", err)
	}
	if _, err := h.LoadRoot(2); err == nil || hint.CodeOf(err) != hint.CodeKey || !strings.Contains(hint.Of(err), "recover --site") {
		t.Fatalf("missing root key: %v", err)
	}
}
