package location_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/location"
)

// members resolves group members to folder sites under dir; a name in
// missing resolves to a folder that does not exist.
func members(dir string, extra map[string]string) func(string) (string, site.Properties, error) {
	return func(name string) (string, site.Properties, error) {
		if u, ok := extra[name]; ok {
			return u, site.Properties{Name: name}, nil
		}
		if strings.HasPrefix(name, "gone") {
			return filepath.Join(dir, "no-such-folder", name), site.Properties{Name: name, Jurisdiction: "FI"}, nil
		}
		if name == "unknown" {
			return "", site.Properties{}, fmt.Errorf("no site %s", name)
		}
		p := filepath.Join(dir, name)
		os.MkdirAll(p, 0o700)
		return p, site.Properties{Name: name, Jurisdiction: strings.ToUpper(name[:2])}, nil
	}
}

// TestOpenErasureGroup: a K+M group opens while at most M members are
// unreachable (they count as erasures: objects still read back whole), and
// refuses to open with more down, a member that is itself a group, an
// unknown member or no site registry.
func TestOpenErasureGroup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	res := members(dir, map[string]string{"nested": "erasure:1+1?members=lu,ch"})
	const url = "erasure:2+1?members=lu,ch,fi"
	g, err := location.Open(ctx, url, site.Properties{Name: "grp"}, location.Options{Members: res})
	if err != nil {
		t.Fatal(err)
	}
	h := site.Handle{Kind: site.KindPack, Name: "ab/" + strings.Repeat("ab", 32)}
	data := []byte(strings.Repeat("a pack of ciphertext ", 5000))
	if err := g.Put(ctx, h, site.Bytes(data), site.PutOptions{IfAbsent: true}); err != nil {
		t.Fatal(err)
	}
	g.Close()
	// fi's folder goes away: the group still opens and reads whole
	// objects (the missing member is one erasure).
	if err := os.Rename(filepath.Join(dir, "fi"), filepath.Join(dir, "fi-away")); err != nil {
		t.Fatal(err)
	}
	g, err = location.Open(ctx, url, site.Properties{Name: "grp"}, location.Options{Members: res})
	if err != nil {
		t.Fatalf("open with one member down: %v", err)
	}
	defer g.Close()
	if got, err := site.ReadAll(ctx, g, h); err != nil || string(got) != string(data) {
		t.Fatalf("read back with one member down: %v", err)
	}
	for url, want := range map[string]string{
		"erasure:2+1?members=lu,gone1,gone2": "2 of 3 members are unavailable",
		"erasure:1+1?members=lu,nested":      "itself a group",
		"erasure:1+1?members=lu,unknown":     "no site unknown",
		"erasure:9+9?members=lu":             "",
	} {
		_, err := location.Open(ctx, url, site.Properties{Name: "grp"}, location.Options{Members: res})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error naming %q", url, err, want)
		}
	}
	if _, err := location.Open(ctx, "erasure:1+1?members=a,b", site.Properties{Name: "grp"}, location.Options{}); err == nil ||
		!strings.Contains(err.Error(), "need the site registry") {
		t.Fatalf("group without a registry: %v", err)
	}
}

// TestOpenErrorsKeepSecrets: a site that fails to open is reported
// without the credentials of its URL.
func TestOpenErrorsKeepSecrets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, url := range []string{
		"s3://AKIAEXAMPLE:TOPSECRETVALUE@127.0.0.1:1/bucket-1?tls=false",
		"s3://AKIAEXAMPLE:TOPSECRETVALUE@127.0.0.1:1/Bad_Bucket",
		"tape://AKIAEXAMPLE:TOPSECRETVALUE@robot/1",
	} {
		_, err := location.Open(ctx, url, site.Properties{Name: "lu"}, location.Options{})
		if err == nil {
			t.Fatalf("%s opened", url)
		}
		if strings.Contains(err.Error(), "TOPSECRETVALUE") {
			t.Errorf("the error shows the secret: %v", err)
		}
	}
	// embassy:// without an identity and no home PKI folder: an error, no dial.
	if _, err := location.Open(ctx, "embassy://127.0.0.1:1", site.Properties{Name: "lu"}, location.Options{}); err == nil {
		t.Fatal("an embassy site without a client identity opened")
	}
	// With the home's PKI folder (empty here) the client identity is looked
	// up there: missing certificates are an error, not a connection.
	_, err := location.Open(ctx, "embassy://127.0.0.1:1", site.Properties{Name: "lu"}, location.Options{PKIDir: t.TempDir()})
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("embassy site with an empty PKI folder: %v", err)
	}
}
