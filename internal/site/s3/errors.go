package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/smithy-go"

	"github.com/digital-embassy/embassy/internal/site"
)

// status returns the HTTP status of an S3 error, or 0 if there was no reply.
func status(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// objErr maps an S3 error about object h onto the site contract.
func (b *Backend) objErr(ctx context.Context, op string, h site.Handle, err error) error {
	switch st, c := status(err), code(err); {
	case st == http.StatusNotFound && c != "NoSuchBucket", c == "NoSuchKey":
		return fmt.Errorf("%s %v: %w", op, h, site.ErrNotFound)
	case st == http.StatusPreconditionFailed, c == "PreconditionFailed":
		return fmt.Errorf("%s %v: %w", op, h, site.ErrExists)
	case st == http.StatusRequestedRangeNotSatisfiable, c == "InvalidRange":
		return fmt.Errorf("%s %v: %w", op, h, site.ErrRange)
	}
	return b.siteErr(ctx, fmt.Sprintf("%s %v", op, h), err)
}

// siteErr wraps an error, adding hints and marking what retrying cannot fix.
func (b *Backend) siteErr(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%s: %w (%v)", op, cerr, err)
	}
	err = fmt.Errorf("%s on %s: %w", op, b.cfg.Location(), err)
	switch st, c := status(err), code(err); {
	case c == "NoSuchBucket":
		return site.Permanent(fmt.Errorf("%w (bucket %s is gone)", err, b.cfg.Bucket))
	case st == http.StatusForbidden, c == "InvalidAccessKeyId", c == "SignatureDoesNotMatch":
		return site.Permanent(fmt.Errorf("%w (access denied: check the site's credentials and bucket policy)", err))
	case c == "RequestTimeout":
		return err // S3 sends it as 400, but a retry may well succeed
	case st == http.StatusBadRequest, st == http.StatusMethodNotAllowed, st == http.StatusLengthRequired,
		st == http.StatusNotImplemented:
		return site.Permanent(err)
	}
	return err
}

func isRange(err error) bool { return errors.Is(err, site.ErrRange) }
