package s3

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/digital-embassy/embassy/internal/site"
)

func (b *Backend) Get(ctx context.Context, h site.Handle, off, n int64, fn func(io.Reader) error) error {
	key, err := b.key(ctx, h)
	if err != nil {
		return err
	}
	if off < 0 {
		return fmt.Errorf("get %v at %d: %w", h, off, site.ErrRange)
	}
	in := &s3.GetObjectInput{Bucket: aws.String(b.cfg.Bucket), Key: key}
	switch {
	case n > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", off, off+n-1))
	case off > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", off))
	}
	out, err := b.client.GetObject(ctx, in)
	if err != nil {
		err = b.objErr(ctx, "get", h, err)
		if n <= 0 && off > 0 && isRange(err) {
			// "bytes=size-" is unsatisfiable, but the contract gives an empty reader.
			if fi, serr := b.Stat(ctx, h); serr != nil {
				return serr
			} else if fi.Size == off {
				return fn(strings.NewReader(""))
			}
		}
		return err
	}
	defer out.Body.Close()
	if in.Range != nil {
		start, end, ok := parseContentRange(aws.ToString(out.ContentRange))
		if !ok || start != off {
			return fmt.Errorf("get %v: server ignored range %s (got %q)", h, *in.Range, aws.ToString(out.ContentRange))
		}
		if n > 0 && end != off+n-1 {
			return fmt.Errorf("get %v [%d+%d]: object ends at %d: %w", h, off, n, end+1, site.ErrRange)
		}
	}
	return fn(out.Body)
}

// parseContentRange parses "bytes START-END/SIZE".
func parseContentRange(s string) (start, end int64, ok bool) {
	s, ok = strings.CutPrefix(s, "bytes ")
	r, _, ok2 := strings.Cut(s, "/")
	a, z, ok3 := strings.Cut(r, "-")
	if !ok || !ok2 || !ok3 {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(z, 10, 64)
	return start, end, err1 == nil && err2 == nil
}

func (b *Backend) Stat(ctx context.Context, h site.Handle) (site.Info, error) {
	key, err := b.key(ctx, h)
	if err != nil {
		return site.Info{}, err
	}
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b.cfg.Bucket), Key: key})
	if err != nil {
		return site.Info{}, b.objErr(ctx, "stat", h, err)
	}
	return site.Info{Handle: h, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// List pages through the kind's keys, skipping keys that are not valid
// object names (foreign files, "directory" markers).
func (b *Backend) List(ctx context.Context, k site.Kind, fn func(site.Info) error) error {
	if err := (site.Handle{Kind: k, Name: "x"}).Validate(); err != nil {
		return site.Permanent(err)
	}
	prefix := b.base(k)
	pages := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(b.cfg.Bucket),
		Prefix: aws.String(prefix),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return b.siteErr(ctx, "list "+k.String(), err)
		}
		for _, o := range page.Contents {
			name := strings.TrimPrefix(aws.ToString(o.Key), prefix)
			if site.ValidName(name) != nil {
				continue
			}
			fi := site.Info{Handle: site.Handle{Kind: k, Name: name}, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)}
			if err := fn(fi); err != nil {
				return err
			}
		}
	}
	return ctx.Err()
}

// Delete removes h. S3 deletes are idempotent, so Delete first checks that
// h exists. In a versioned bucket (every object-locked bucket is one) a
// plain delete would only hide the object behind a delete marker, so Delete
// removes every version of the key instead, newest first; a version under
// retention makes it fail with a permanent error.
func (b *Backend) Delete(ctx context.Context, h site.Handle) error {
	key, err := b.key(ctx, h)
	if err != nil {
		return err
	}
	if _, err := b.Stat(ctx, h); err != nil {
		return err
	}
	bucket := aws.String(b.cfg.Bucket)
	if !b.versioned {
		if _, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: key}); err != nil {
			return b.objErr(ctx, "delete", h, err)
		}
		return nil
	}
	var versions []*string
	pages := s3.NewListObjectVersionsPaginator(b.client, &s3.ListObjectVersionsInput{Bucket: bucket, Prefix: key})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return b.objErr(ctx, "delete", h, err)
		}
		for _, v := range page.Versions {
			if aws.ToString(v.Key) == *key {
				versions = append(versions, v.VersionId)
			}
		}
		for _, m := range page.DeleteMarkers {
			if aws.ToString(m.Key) == *key {
				versions = append(versions, m.VersionId)
			}
		}
	}
	for _, v := range versions {
		_, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: key, VersionId: v})
		if err != nil && status(err) == http.StatusForbidden {
			return site.Permanent(fmt.Errorf("delete %v: version %s is under object lock retention: %w", h, aws.ToString(v), err))
		} else if err != nil && status(err) != http.StatusNotFound {
			return b.objErr(ctx, "delete", h, err)
		}
	}
	return nil
}
