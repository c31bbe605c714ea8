package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// SDK is the one place an S3 client is configured: credentials (the
// config's, else AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN), region and a path-style endpoint. Sites use it
// through New; the transparency log's AWS driver (tessera) takes the
// returned config and options as they are.
func SDK(cfg Config) (aws.Config, func(*s3.Options), error) {
	key, secret, token := cfg.AccessKey, string(cfg.SecretKey), ""
	if key == "" {
		key, secret, token = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN")
	}
	if key == "" || secret == "" {
		return aws.Config{}, nil, errNoCredentials
	}
	scheme := "https://"
	if cfg.Insecure {
		scheme = "http://"
	}
	region := cfg.Region
	if region == "" {
		region = defaultRegion
	}
	ac := aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(key, secret, token)}
	opt := func(o *s3.Options) {
		o.BaseEndpoint = aws.String(scheme + cfg.Endpoint)
		o.UsePathStyle = true
	}
	return ac, opt, nil
}

// newClient is SDK's client with the given HTTP client and no SDK retries
// (callers wrap sites in retry.New).
func newClient(cfg Config, hc *http.Client) (*s3.Client, error) {
	ac, opt, err := SDK(cfg)
	if err != nil {
		return nil, err
	}
	return s3.NewFromConfig(ac, opt, func(o *s3.Options) {
		o.HTTPClient = hc
		o.Retryer = aws.NopRetryer{}
	}), nil
}

// Objects reads whole objects by key under a config's bucket and prefix,
// for readers of other layouts than a site's (the log's tiles).
type Objects struct {
	c      *s3.Client
	bucket string
	prefix string
}

// NewObjects returns a reader of cfg's bucket.
func NewObjects(cfg Config) (*Objects, error) {
	ac, opt, err := SDK(cfg)
	if err != nil {
		return nil, err
	}
	return &Objects{c: s3.NewFromConfig(ac, opt), bucket: cfg.Bucket, prefix: cfg.Prefix}, nil
}

// Get reads the object at key (under the prefix); a missing object is
// fs.ErrNotExist.
func (o *Objects) Get(ctx context.Context, key string) ([]byte, error) {
	if o.prefix != "" {
		key = path.Join(o.prefix, key)
	}
	out, err := o.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(key)})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound") {
			return nil, fmt.Errorf("s3://%s/%s: %w", o.bucket, key, fs.ErrNotExist)
		}
		return nil, fmt.Errorf("s3://%s/%s: %w", o.bucket, key, err)
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}
