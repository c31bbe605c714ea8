// Package s3 is a site on an S3-compatible object store (AWS S3, SeaweedFS,
// versitygw, MinIO, ...), addressed path-style.
//
// Create-only Puts use If-None-Match: *; RetainUntil becomes an object lock
// retention in COMPLIANCE mode when the bucket has object lock enabled.
package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/digital-embassy/embassy/internal/site"
)

const (
	defaultConnections = 8
	defaultThreshold   = 64 << 20
	defaultPartSize    = 16 << 20
	minPartSize        = 5 << 20
	maxParts           = 10000
)

// Backend is an S3 site.
type Backend struct {
	cfg    Config
	client *s3.Client
	http   *http.Client
	props  site.Properties
	// versioned: the bucket keeps old versions, so Delete removes them all.
	versioned bool
}

var _ site.Backend = (*Backend)(nil)

// New connects to the bucket, creating it if cfg.CreateBucket is set, and
// detects whether it enforces object lock. The SDK's own retries are off:
// wrap the backend in retry.New.
func New(ctx context.Context, cfg Config) (*Backend, error) {
	if cfg.Endpoint == "" || validBucket(cfg.Bucket) != nil {
		return nil, fmt.Errorf("s3 site %s: endpoint and a valid bucket are required", cfg.Location())
	}
	if cfg.Region == "" {
		cfg.Region = defaultRegion
	}
	if cfg.Connections < 1 {
		cfg.Connections = defaultConnections
	}
	if cfg.MultipartThreshold <= 0 {
		cfg.MultipartThreshold = defaultThreshold
	}
	cfg.PartSize = max(cfg.PartSize, minPartSize)
	if cfg.PartSize == minPartSize && cfg.MultipartThreshold == defaultThreshold {
		cfg.PartSize = defaultPartSize
	}
	hc := cfg.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = cfg.Connections
		tr.ResponseHeaderTimeout = 2 * time.Minute
		hc = &http.Client{Transport: tr}
	}
	client, err := newClient(cfg, hc)
	if err != nil {
		return nil, err
	}
	b := &Backend{cfg: cfg, http: hc, client: client}
	if err := b.openBucket(ctx); err != nil {
		hc.CloseIdleConnections()
		return nil, err
	}
	lock, err := b.objectLock(ctx)
	if err == nil {
		b.versioned, err = b.versioning(ctx)
	}
	if err != nil {
		hc.CloseIdleConnections()
		return nil, err
	}
	b.props = site.Properties{
		Name:         cfg.Name,
		Jurisdiction: cfg.Jurisdiction,
		Location:     cfg.Location(),
		Connections:  cfg.Connections,
		ObjectLock:   lock,
	}
	return b, nil
}

func (b *Backend) openBucket(ctx context.Context) error {
	bucket := aws.String(b.cfg.Bucket)
	if b.cfg.CreateBucket {
		in := &s3.CreateBucketInput{Bucket: bucket}
		if b.cfg.Region != defaultRegion {
			in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
				LocationConstraint: types.BucketLocationConstraint(b.cfg.Region),
			}
		}
		_, err := b.client.CreateBucket(ctx, in)
		var owned *types.BucketAlreadyOwnedByYou
		var exists *types.BucketAlreadyExists
		if err != nil && !errors.As(err, &owned) && !errors.As(err, &exists) {
			return b.siteErr(ctx, "create bucket", err)
		}
	}
	if _, err := b.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: bucket}); err != nil {
		if status(err) == http.StatusNotFound {
			return site.Permanent(fmt.Errorf("bucket %s does not exist at %s: create it, or let embassy create it", b.cfg.Bucket, b.cfg.Endpoint))
		}
		return b.siteErr(ctx, "open bucket", err)
	}
	return nil
}

// objectLock reports whether the bucket has object lock enabled.
func (b *Backend) objectLock(ctx context.Context) (bool, error) {
	out, err := b.client.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(b.cfg.Bucket)})
	if err != nil {
		if ctx.Err() != nil || status(err) == 0 {
			return false, b.siteErr(ctx, "get object lock configuration", err)
		}
		return false, nil // not configured, or not supported by the server
	}
	c := out.ObjectLockConfiguration
	return c != nil && c.ObjectLockEnabled == types.ObjectLockEnabledEnabled, nil
}

// versioning reports whether the bucket has (or had) versioning enabled.
func (b *Backend) versioning(ctx context.Context) (bool, error) {
	out, err := b.client.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(b.cfg.Bucket)})
	if err != nil {
		if ctx.Err() != nil || status(err) == 0 {
			return false, b.siteErr(ctx, "get bucket versioning", err)
		}
		return false, nil
	}
	return out.Status != "", nil
}

func (b *Backend) Properties() site.Properties { return b.props }

// Close drops idle connections.
func (b *Backend) Close() error {
	b.http.CloseIdleConnections()
	return nil
}

// base is the key prefix of kind k, ending in a slash.
func (b *Backend) base(k site.Kind) string {
	if b.cfg.Prefix == "" {
		return k.String() + "/"
	}
	return b.cfg.Prefix + "/" + k.String() + "/"
}

// key returns the object key of h after checking h and ctx.
func (b *Backend) key(ctx context.Context, h site.Handle) (*string, error) {
	if err := h.Validate(); err != nil {
		return nil, site.Permanent(err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return aws.String(b.base(h.Kind) + h.Name), nil
}
