// Package tlog is the embassy's transparency log: an append-only Merkle log
// of structured entries, stored as C2SP tlog-tiles by tessera's POSIX
// driver, whose checkpoints are C2SP signed notes published only once the
// witness quorum of a C2SP tlog-policy has cosigned them. Receipts
// (c2sp.org/tlog-proof) and audit bundles verify offline with nothing but
// the policy. docs/formats/tlog.md specifies the formats.
package tlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/transparency-dev/tessera"
	"golang.org/x/mod/sumdb/note"
)

// TilesDir is the tessera POSIX root inside a log directory.
const TilesDir = "tiles"

// Options configure Open.
type Options struct {
	Signer note.Signer // the log's Ed25519 note key; its name is the origin
	Policy *Policy     // witnesses and quorum; every witness line needs a URL
	// Local maps URL hosts to in-process witness handlers (the home witness).
	Local map[string]http.Handler
	// Transport reaches remote witnesses (default http.DefaultTransport).
	Transport http.RoundTripper

	CheckpointInterval time.Duration // default 100 ms, tessera's POSIX minimum
	BatchMaxAge        time.Duration // default 10 ms
	BatchMaxSize       uint          // default 1024
	WitnessTimeout     time.Duration // default 5 s per publication attempt
	PublishTimeout     time.Duration // how long Append waits for a witnessed checkpoint; default 30 s
	Logger             *slog.Logger

	// AWS, when set, keeps the log in S3 and MySQL (tessera's AWS driver)
	// instead of <dir>/tiles; the checkpoint interval is then at least 1 s.
	AWS *AWSStorage
}

// Log is an open log that can append.
type Log struct {
	*Reader
	dir      string
	app      *tessera.Appender
	shutdown func(context.Context) error
	aw       *tessera.PublicationAwaiter
	cancel   context.CancelFunc
	tr       *transport
	timeout  time.Duration
}

// Open opens (or creates) the log in dir. Background work runs until Close.
func Open(ctx context.Context, dir string, o Options) (*Log, error) {
	if o.Signer == nil || o.Policy == nil {
		return nil, errors.New("tlog: a signer and a policy are required")
	}
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = 100 * time.Millisecond
	}
	if o.AWS != nil && o.CheckpointInterval < time.Second {
		o.CheckpointInterval = time.Second // the AWS driver's minimum
	}
	if o.BatchMaxAge == 0 {
		o.BatchMaxAge = 10 * time.Millisecond
	}
	if o.BatchMaxSize == 0 {
		o.BatchMaxSize = 1024
	}
	if o.WitnessTimeout == 0 {
		o.WitnessTimeout = 5 * time.Second
	}
	if o.PublishTimeout == 0 {
		o.PublishTimeout = 30 * time.Second
	}
	if o.Transport == nil {
		o.Transport = http.DefaultTransport
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	routeKlog(o.Logger) // tessera logs through klog
	wg, err := tessera.NewWitnessGroupFromPolicy(o.Policy.Text)
	if err != nil {
		return nil, fmt.Errorf("witness policy: %w", err)
	}
	tr := &transport{local: o.Local, next: o.Transport, alerts: filepath.Join(dir, AlertsFile)}
	drv, rd, err := openDriver(ctx, dir, o, &http.Client{Transport: tr, Timeout: o.WitnessTimeout})
	if err != nil {
		return nil, err
	}
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	app, shutdown, lr, err := tessera.NewAppender(bctx, drv, tessera.NewAppendOptions().
		WithCheckpointSigner(o.Signer).
		WithCheckpointInterval(o.CheckpointInterval).
		WithBatching(o.BatchMaxSize, o.BatchMaxAge).
		WithPushback(1<<16).
		WithWitnesses(wg, &tessera.WitnessOptions{Timeout: o.WitnessTimeout}).
		WithShutdownTimeout(o.PublishTimeout))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open log: %w", err)
	}
	l := &Log{Reader: rd, dir: dir, app: app, shutdown: shutdown, cancel: cancel, tr: tr, timeout: o.PublishTimeout}
	l.aw = tessera.NewPublicationAwaiter(bctx, lr.ReadCheckpoint, 10*time.Millisecond)
	return l, nil
}

// ErrNotWitnessed is returned by Append when the entry was sequenced but no
// checkpoint covering it was cosigned by the quorum in time.
var ErrNotWitnessed = errors.New("no witnessed checkpoint covers the entry")

// Append adds e and returns once a checkpoint that includes it has been
// cosigned by the witness quorum and published: its index and that
// checkpoint. An entry acknowledged this way survives a crash.
func (l *Log) Append(ctx context.Context, e Entry) (uint64, []byte, error) {
	b, err := e.Marshal()
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	idx, cp, err := l.aw.Await(ctx, l.app.Add(ctx, tessera.NewEntry(b)))
	if err != nil {
		if isNoSpace(err) {
			err = fmt.Errorf("%w: %w", ErrStorageFull, err)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w within %s", ErrNotWitnessed, l.timeout)
			if a := l.tr.lastAlert(); a != nil {
				err = fmt.Errorf("%w; last witness refusal: %s %s (%d %s)", err, a.Kind, a.URL, a.Status, a.Body)
			}
		}
		return idx.Index, nil, err
	}
	return idx.Index, cp, nil
}

// AppendDurable adds e and returns its index as soon as the storage has
// durably committed it (sequenced; it survives a crash), without waiting
// for the checkpoint that covers it to be published and cosigned; wait does
// that, and reports a witness failure. The key broker uses it so that a
// release is bound to a durable entry without a checkpoint interval of
// latency.
func (l *Log) AppendDurable(ctx context.Context, e Entry) (uint64, func(context.Context) ([]byte, error), error) {
	b, err := e.Marshal()
	if err != nil {
		return 0, nil, err
	}
	f := l.app.Add(ctx, tessera.NewEntry(b))
	idx, err := f()
	if err != nil {
		if isNoSpace(err) {
			err = fmt.Errorf("%w: %w", ErrStorageFull, err)
		}
		return 0, nil, err
	}
	return idx.Index, func(ctx context.Context) ([]byte, error) {
		ctx, cancel := context.WithTimeout(ctx, l.timeout)
		defer cancel()
		_, cp, err := l.aw.Await(ctx, f)
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w within %s", ErrNotWitnessed, l.timeout)
		}
		return cp, err
	}, nil
}

// AppendAsync adds e and returns a function that waits for its witnessed
// checkpoint, for callers that pipeline many appends.
func (l *Log) AppendAsync(ctx context.Context, e Entry) (func() (uint64, []byte, error), error) {
	b, err := e.Marshal()
	if err != nil {
		return nil, err
	}
	f := l.app.Add(ctx, tessera.NewEntry(b))
	return func() (uint64, []byte, error) {
		idx, cp, err := l.aw.Await(ctx, f)
		return idx.Index, cp, err
	}, nil
}

// Close waits for sequenced entries to be published and stops the log.
func (l *Log) Close(ctx context.Context) error {
	defer l.cancel()
	return l.shutdown(ctx)
}
