package tlog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api/layout"
	tessaws "github.com/transparency-dev/tessera/storage/aws"
	"github.com/transparency-dev/tessera/storage/posix"

	s3site "github.com/digital-embassy/embassy/internal/site/s3"
)

// StorageFile, inside a log directory, selects the AWS driver (see
// ParseStorage). Without it the log is stored by the POSIX driver in
// <dir>/tiles.
const StorageFile = "storage"

// AWSStorage keeps the log on tessera's AWS driver: tiles, entry bundles and
// the checkpoint in an S3-compatible bucket (path-style, any endpoint),
// sequencing and integration coordinated in MySQL or MariaDB, so several
// log processes can share one log. The log's alerts file stays in the local
// log directory. Checkpoints are published at most once a second.
type AWSStorage struct {
	S3  s3site.Config // endpoint, bucket, prefix; empty keys: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
	DSN string        // go-sql-driver/mysql DSN, e.g. user:pass@tcp(127.0.0.1:3306)/tessera
}

// ParseStorage parses a storage file: lines "s3 <s3://[KEY:SECRET@]HOST[:PORT]/BUCKET[/PREFIX][?tls=false&region=R]>"
// and "mysql <DSN>"; blank lines and lines starting with # are ignored.
func ParseStorage(text []byte) (*AWSStorage, error) {
	var st AWSStorage
	var haveS3 bool
	sc := bufio.NewScanner(bytes.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, _ := strings.Cut(line, " ")
		val = strings.TrimSpace(val)
		switch key {
		case "s3":
			cfg, err := s3site.ParseConfig(val)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			st.S3, haveS3 = cfg, true
		case "mysql":
			if val == "" {
				return nil, fmt.Errorf("line %d: empty mysql DSN", n)
			}
			st.DSN = val
		default:
			return nil, fmt.Errorf("line %d: unknown key %q (want s3 or mysql)", n, key)
		}
	}
	if !haveS3 || st.DSN == "" {
		return nil, errors.New("the AWS log storage needs both an s3 line and a mysql line")
	}
	return &st, nil
}

// LoadStorage reads <dir>/storage; it returns nil, nil when the file is
// absent (the POSIX driver).
func LoadStorage(dir string) (*AWSStorage, error) {
	p := filepath.Join(dir, StorageFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	st, err := ParseStorage(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return st, nil
}

// Reader returns a reader of the log kept in the bucket.
func (st *AWSStorage) Reader(p *Policy) (*Reader, error) {
	objs, err := s3site.NewObjects(st.S3)
	if err != nil {
		return nil, fmt.Errorf("log storage: %w", err)
	}
	return NewFetcherReader(&s3Fetcher{objs}, p), nil
}

// openDriver returns the tessera driver for the log in dir and a reader of
// what it publishes.
func openDriver(ctx context.Context, dir string, o Options, hc *http.Client) (tessera.Driver, *Reader, error) {
	if o.AWS == nil {
		tiles := filepath.Join(dir, TilesDir)
		if err := os.MkdirAll(tiles, 0o755); err != nil {
			return nil, nil, err
		}
		drv, err := posix.New(ctx, posix.Config{Path: tiles, HTTPClient: hc})
		if err != nil {
			return nil, nil, fmt.Errorf("open log storage: %w", err)
		}
		return drv, NewReader(dir, o.Policy), nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	cfg, opt, err := s3site.SDK(o.AWS.S3)
	if err != nil {
		return nil, nil, fmt.Errorf("log storage: %w", err)
	}
	drv, err := tessaws.New(ctx, tessaws.Config{SDKConfig: &cfg, S3Options: opt, Bucket: o.AWS.S3.Bucket,
		BucketPrefix: o.AWS.S3.Prefix, DSN: o.AWS.DSN, HTTPClient: hc})
	if err != nil {
		return nil, nil, fmt.Errorf("open log storage: %w", err)
	}
	rd, err := o.AWS.Reader(o.Policy)
	if err != nil {
		return nil, nil, err
	}
	return drv, rd, nil
}

// s3Fetcher reads tlog-tiles resources from a bucket.
type s3Fetcher struct{ objs *s3site.Objects }

func (f *s3Fetcher) get(ctx context.Context, key string) ([]byte, error) { return f.objs.Get(ctx, key) }

// partialOrFull reads a partial resource, falling back to the full one that
// may have replaced it (the driver garbage-collects partials).
func (f *s3Fetcher) partialOrFull(ctx context.Context, p uint8, key func(uint8) string) ([]byte, error) {
	b, err := f.get(ctx, key(p))
	if p > 0 && errors.Is(err, fs.ErrNotExist) {
		return f.get(ctx, key(0))
	}
	return b, err
}

func (f *s3Fetcher) ReadCheckpoint(ctx context.Context) ([]byte, error) {
	return f.get(ctx, layout.CheckpointPath)
}

func (f *s3Fetcher) ReadTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
	return f.partialOrFull(ctx, p, func(p uint8) string { return layout.TilePath(level, index, p) })
}

func (f *s3Fetcher) ReadEntryBundle(ctx context.Context, index uint64, p uint8) ([]byte, error) {
	return f.partialOrFull(ctx, p, func(p uint8) string { return layout.EntriesPath(index, p) })
}

// ErrStorageFull is returned by Append when the log's storage has no space
// left; entries acknowledged before are intact.
var ErrStorageFull = errors.New("the log's storage is full (no space left on device): the entry was not logged")

// isNoSpace reports whether err is ENOSPC; tessera does not always wrap
// the underlying error, so its text is checked too.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		strings.Contains(err.Error(), syscall.ENOSPC.Error())
}
