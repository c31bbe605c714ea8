package location_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/fs"
	"github.com/digital-embassy/embassy/internal/site/location"
	"github.com/digital-embassy/embassy/internal/site/retry"
	"github.com/google/go-cmp/cmp"
)

func TestOpenFS(t *testing.T) {
	dir := t.TempDir()
	props := site.Properties{Name: "home", Jurisdiction: "EE"}
	for _, u := range []string{dir, "file://" + dir} {
		b, err := location.Open(t.Context(), u, props, location.Options{})
		if err != nil {
			t.Fatalf("Open(%q): %v", u, err)
		}
		if _, ok := b.(*fs.Backend); !ok {
			t.Errorf("Open(%q) = %T, want *fs.Backend", u, b)
		}
		want := site.Properties{Name: "home", Jurisdiction: "EE", Location: "file://" + dir, Connections: 4}
		if diff := cmp.Diff(want, b.Properties()); diff != "" {
			t.Errorf("Properties (-want +got):\n%s", diff)
		}
	}
}

func TestOpenCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	if _, err := location.Open(t.Context(), dir, site.Properties{}, location.Options{}); err == nil {
		t.Fatal("Open of a missing directory succeeded")
	}
	if _, err := location.Open(t.Context(), dir, site.Properties{}, location.Options{Create: true}); err != nil {
		t.Fatalf("Open with Create: %v", err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Errorf("directory not created: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"sftp://user:pw@host/x", `scheme "sftp" unknown; use a directory path, file:///path, s3://host/bucket, embassy://host:port or erasure:K+M?members=a,b,c`},
		{"gs:bucket", `scheme "gs" unknown`},
		{"s3://key:topsecret@127.0.0.1:1/Bad_Bucket", "bucket name"},
		{"file://remote/x", "remote host"},
	} {
		_, err := location.Open(t.Context(), tc.url, site.Properties{}, location.Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q): got %v, want an error containing %q", tc.url, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "topsecret") || strings.Contains(err.Error(), ":pw@")) {
			t.Errorf("Open(%q): error leaks the secret: %v", tc.url, err)
		}
	}
	if diff := cmp.Diff([]string{"file", "s3", "embassy", "https", "erasure"}, location.Schemes()); diff != "" {
		t.Errorf("Schemes (-want +got):\n%s", diff)
	}
}

// TestOpenS3 needs a real server; see scripts/s3-servers.sh.
func TestOpenS3(t *testing.T) {
	u := os.Getenv("EMBASSY_TEST_S3_URL")
	if u == "" {
		t.Skip("EMBASSY_TEST_S3_URL not set")
	}
	b, err := location.Open(t.Context(), u, site.Properties{Name: "abroad", Jurisdiction: "LU"}, location.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, ok := b.(*retry.Backend); !ok {
		t.Errorf("Open(%q) = %T, want *retry.Backend", u, b)
	}
	if p := b.Properties(); p.Name != "abroad" || p.Jurisdiction != "LU" || p.Location == "" {
		t.Errorf("Properties = %+v", p)
	}
}
