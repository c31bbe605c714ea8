package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/digital-embassy/embassy/internal/site"
)

// Put uploads p in one request, or in parts above MultipartThreshold. S3
// makes an object visible only once its upload completes.
func (b *Backend) Put(ctx context.Context, h site.Handle, p site.Payload, opts site.PutOptions) error {
	key, err := b.key(ctx, h)
	if err != nil {
		return err
	}
	var mode types.ObjectLockMode
	var until *time.Time
	if b.props.ObjectLock && opts.RetainUntil.After(time.Now()) {
		mode, until = types.ObjectLockModeCompliance, aws.Time(opts.RetainUntil)
	}
	var ifNoneMatch *string
	if opts.IfAbsent {
		ifNoneMatch = aws.String("*")
	}
	if p.Len() > b.cfg.MultipartThreshold {
		return b.putParts(ctx, h, key, p, ifNoneMatch, mode, until)
	}
	_, err = b.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:                    aws.String(b.cfg.Bucket),
		Key:                       key,
		Body:                      &payloadBody{p: p},
		ContentLength:             aws.Int64(p.Len()),
		IfNoneMatch:               ifNoneMatch,
		ObjectLockMode:            mode,
		ObjectLockRetainUntilDate: until,
	})
	if err != nil && opts.IfAbsent && status(err) == 0 && ctx.Err() == nil {
		return b.refusedEarly(ctx, h, key, p, err)
	}
	if err != nil {
		return b.objErr(ctx, "put", h, err)
	}
	return nil
}

// refusedEarly explains a create-only upload that broke off without a reply.
// Some servers (versitygw) answer 412 before reading the body and reset the
// connection, so the client only sees the reset. If an object of another
// size is there, it cannot be ours: report ErrExists. Otherwise keep the
// transient error, so that a retry decides.
func (b *Backend) refusedEarly(ctx context.Context, h site.Handle, key *string, p site.Payload, err error) error {
	head, herr := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b.cfg.Bucket), Key: key})
	if herr == nil && aws.ToInt64(head.ContentLength) != p.Len() {
		return fmt.Errorf("put %v: %w", h, site.ErrExists)
	}
	return b.objErr(ctx, "put", h, err)
}

func (b *Backend) putParts(ctx context.Context, h site.Handle, key *string, p site.Payload,
	ifNoneMatch *string, mode types.ObjectLockMode, until *time.Time) (err error) {
	bucket := aws.String(b.cfg.Bucket)
	if ifNoneMatch != nil {
		// Fail fast; CompleteMultipartUpload checks again atomically.
		if _, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: key}); err == nil {
			return fmt.Errorf("put %v: %w", h, site.ErrExists)
		} else if status(err) != 404 {
			return b.objErr(ctx, "put", h, err)
		}
	}
	up, err := b.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:                    bucket,
		Key:                       key,
		ChecksumAlgorithm:         types.ChecksumAlgorithmCrc32,
		ObjectLockMode:            mode,
		ObjectLockRetainUntilDate: until,
	})
	if err != nil {
		return b.objErr(ctx, "put", h, err)
	}
	defer func() {
		if err == nil {
			return
		}
		// Abort even if ctx is done, so the parts do not linger.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = b.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: bucket, Key: key, UploadId: up.UploadId})
	}()

	size := max(b.cfg.PartSize, (p.Len()+maxParts-1)/maxParts)
	buf := make([]byte, size)
	r := p.NewReader()
	var parts []types.CompletedPart
	var total int64
	for num := int32(1); ; num++ {
		n, rerr := io.ReadFull(r, buf)
		total += int64(n)
		if rerr != nil && !errors.Is(rerr, io.ErrUnexpectedEOF) && !errors.Is(rerr, io.EOF) {
			return fmt.Errorf("put %v: read payload: %w", h, rerr)
		}
		if n == 0 && num > 1 {
			break
		}
		out, err := b.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:            bucket,
			Key:               key,
			UploadId:          up.UploadId,
			PartNumber:        aws.Int32(num),
			Body:              bytes.NewReader(buf[:n]),
			ContentLength:     aws.Int64(int64(n)),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			return b.objErr(ctx, "put", h, err)
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num), ChecksumCRC32: out.ChecksumCRC32})
		if rerr != nil {
			break
		}
	}
	if total != p.Len() {
		return fmt.Errorf("put %v: payload gave %d bytes, want %d", h, total, p.Len())
	}
	_, err = b.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          bucket,
		Key:             key,
		UploadId:        up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		IfNoneMatch:     ifNoneMatch,
	})
	if err != nil {
		return b.objErr(ctx, "put", h, err)
	}
	return nil
}

// payloadBody is an io.ReadSeeker over a Payload, so the SDK can sign and
// checksum the body without holding it in memory: seeking reopens the
// payload lazily and skips to the wanted offset on the next Read.
type payloadBody struct {
	p    site.Payload
	r    io.Reader // nil until the first Read after a Seek
	pos  int64     // offset of r
	want int64     // offset the next Read starts at
}

func (b *payloadBody) Read(p []byte) (int, error) {
	if b.r == nil || b.want != b.pos {
		b.r, b.pos = b.p.NewReader(), 0
		if b.want > 0 {
			n, err := io.CopyN(io.Discard, b.r, b.want)
			b.pos = n
			if err != nil {
				return 0, err
			}
		}
	}
	n, err := b.r.Read(p)
	b.pos += int64(n)
	b.want = b.pos
	return n, err
}

func (b *payloadBody) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += b.want
	case io.SeekEnd:
		off += b.p.Len()
	}
	if off < 0 {
		return 0, errors.New("seek before start of payload")
	}
	b.want = off
	return off, nil
}
