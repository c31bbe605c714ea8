package s3

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/sitetest"
)

// Real servers: see scripts/s3-servers.sh. Each variable holds a site URL;
// credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
var servers = []struct{ name, env string }{
	{"versitygw", "EMBASSY_TEST_S3_URL"},
	{"seaweedfs", "EMBASSY_TEST_S3_SEAWEED_URL"},
}

// newTestBackend opens a fresh random prefix on the server in env, and
// empties it afterwards. Multipart starts at 8 MiB so the suite's large
// objects exercise it.
func newTestBackend(t *testing.T, env string) *Backend {
	t.Helper()
	u := os.Getenv(env)
	if u == "" {
		t.Skipf("%s not set (see scripts/s3-servers.sh)", env)
	}
	cfg, err := ParseConfig(u)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Prefix = strings.TrimPrefix(cfg.Prefix+"/test-"+rand.Text()[:12], "/")
	cfg.Prefix = strings.ToLower(cfg.Prefix)
	cfg.CreateBucket = true
	cfg.MultipartThreshold, cfg.PartSize = 8<<20, 5<<20
	b, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.Location(), err)
	}
	t.Cleanup(func() { empty(t, b) })
	return b
}

func empty(t *testing.T, b *Backend) {
	ctx := t.Context()
	for _, k := range site.Kinds {
		var hs []site.Handle
		b.List(ctx, k, func(fi site.Info) error { hs = append(hs, fi.Handle); return nil })
		for _, h := range hs {
			b.Delete(ctx, h)
		}
	}
}

func TestConformance(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			if os.Getenv(srv.env) == "" {
				t.Skipf("%s not set (see scripts/s3-servers.sh)", srv.env)
			}
			sitetest.Run(t, func(t *testing.T) site.Backend { return newTestBackend(t, srv.env) })
		})
	}
}

// TestRetention checks that RetainUntil becomes a COMPLIANCE retention that
// the server enforces, on servers whose bucket has object lock enabled.
func TestRetention(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			b := newTestBackend(t, srv.env)
			if !b.Properties().ObjectLock {
				t.Skipf("bucket at %s has no object lock", b.Properties().Location)
			}
			ctx := t.Context()
			until := time.Now().Add(time.Minute).Truncate(time.Second)
			for _, p := range []site.Payload{site.Bytes("locked"), sitetest.Gen{Seed: 3, N: 9 << 20}} {
				h := site.Handle{Kind: site.KindSnapshot, Name: fmt.Sprintf("locked-%d", p.Len())}
				if err := b.Put(ctx, h, p, site.PutOptions{IfAbsent: true, RetainUntil: until}); err != nil {
					t.Fatalf("Put: %v", err)
				}
				key, _ := b.key(ctx, h)
				bucket := aws.String(b.cfg.Bucket)
				ret, err := b.client.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: bucket, Key: key})
				if err != nil {
					t.Fatalf("GetObjectRetention: %v", err)
				}
				if r := ret.Retention; r == nil || r.Mode != types.ObjectLockRetentionModeCompliance || !aws.ToTime(r.RetainUntilDate).Equal(until) {
					t.Errorf("retention = %+v, want COMPLIANCE until %v", r, until)
				}
				head, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: key})
				if err != nil {
					t.Fatal(err)
				}
				_, err = b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: key, VersionId: head.VersionId, BypassGovernanceRetention: aws.Bool(true)})
				if err == nil {
					t.Errorf("deleting the retained version of %v succeeded", h)
				}
			}
		})
	}
}

func TestBadCredentials(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			u := os.Getenv(srv.env)
			if u == "" {
				t.Skipf("%s not set", srv.env)
			}
			cfg, err := ParseConfig(u)
			if err != nil {
				t.Fatal(err)
			}
			cfg.AccessKey, cfg.SecretKey = "nobody", "wrong-secret"
			_, err = New(t.Context(), cfg)
			if err == nil || !site.IsPermanent(err) || strings.Contains(err.Error(), "wrong-secret") {
				t.Errorf("New with bad credentials: %v", err)
			}
			t.Log(err)
		})
	}
}

func TestNoCredentials(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	_, err := New(t.Context(), Config{Endpoint: "127.0.0.1:1", Bucket: "bkt"})
	if !errors.Is(err, errNoCredentials) {
		t.Errorf("New without credentials: %v", err)
	}
}
