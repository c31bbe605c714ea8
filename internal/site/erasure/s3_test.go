package erasure

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/s3"
	"github.com/digital-embassy/embassy/internal/site/sitetest"
)

// s3Members opens n fresh prefixes spread over the real S3 servers that are
// configured (scripts/s3-servers.sh), and empties them afterwards.
func s3Members(t *testing.T, n int) []site.Backend {
	t.Helper()
	var urls []string
	for _, env := range []string{"EMBASSY_TEST_S3_URL", "EMBASSY_TEST_S3_SEAWEED_URL"} {
		if u := os.Getenv(env); u != "" {
			urls = append(urls, u)
		}
	}
	if len(urls) == 0 {
		t.Skip("EMBASSY_TEST_S3_URL and EMBASSY_TEST_S3_SEAWEED_URL not set (see scripts/s3-servers.sh)")
	}
	out := make([]site.Backend, n)
	for i := range out {
		cfg, err := s3.ParseConfig(urls[i%len(urls)])
		if err != nil {
			t.Fatal(err)
		}
		cfg.Prefix = strings.ToLower(strings.TrimPrefix(fmt.Sprintf("%s/erasure-%s-%d", cfg.Prefix, rand.Text()[:10], i), "/"))
		cfg.CreateBucket = true
		cfg.MultipartThreshold, cfg.PartSize = 8<<20, 5<<20
		b, err := s3.New(t.Context(), cfg)
		if err != nil {
			t.Fatalf("s3.New(%s): %v", cfg.Location(), err)
		}
		out[i] = b
		t.Cleanup(func() {
			for _, k := range site.Kinds {
				var hs []site.Handle
				b.List(t.Context(), k, func(fi site.Info) error { hs = append(hs, fi.Handle); return nil })
				for _, h := range hs {
					b.Delete(t.Context(), h)
				}
			}
		})
	}
	return out
}

func TestS3Conformance(t *testing.T) {
	sitetest.Run(t, func(t *testing.T) site.Backend {
		b, err := New(s3Members(t, 5), 3, 2, site.Properties{Name: "group"})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// TestS3MemberStopsMidRestore makes one S3 member fail (as if its site went
// down) while an object streams out of the group.
func TestS3MemberStopsMidRestore(t *testing.T) {
	members := s3Members(t, 5)
	faulty := sitetest.NewFaulty(members[0])
	members[0] = faulty
	b, err := NewWithOptions(members, 3, 2, site.Properties{}, Options{Stripe: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	h := site.Handle{Kind: site.KindPack, Name: "restore"}
	obj := gen(12, 6<<20)
	sitetest.Put(t, b, h, obj, site.PutOptions{IfAbsent: true})
	got, err := readWith(b, h, func() { faulty.Inject(sitetest.Fault{}) })
	if err != nil || !bytes.Equal(got, obj) {
		t.Fatalf("Get with a member stopped midway: %d bytes, %v", len(got), err)
	}
}
