// Package tlog is the embassy's transparency log: an append-only Merkle log
// of structured entries, stored as C2SP tlog-tiles by tessera's POSIX
// driver, whose checkpoints are C2SP signed notes published only once the
// witness quorum of a C2SP tlog-policy has cosigned them. Receipts
// (c2sp.org/tlog-proof) and audit bundles verify offline with nothing but
// the policy. docs/formats/tlog.md specifies the formats.
package tlog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/transparency-dev/tessera"
	"golang.org/x/mod/sumdb/note"

	"github.com/digital-embassy/embassy/internal/atomicfile"
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
	// PollInterval is how often a waiting Append reads the published
	// checkpoint: default 2 ms for the local tiles (a small file read),
	// 10 ms with AWS (a GET).
	PollInterval time.Duration
	Logger       *slog.Logger

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

	mu sync.Mutex
	// missed is the earliest deadline a wait for a witnessed checkpoint
	// missed in this session: Close then waits no longer than it, so that
	// "not witnessed within 30s" is true of the whole command. The entries
	// are sequenced and durable; a later checkpoint covers them.
	missed time.Time
	// unwitnessed maps the hash of an entry's bytes to the index it was
	// sequenced at, for entries whose wait for a witnessed checkpoint
	// missed (kept in UnwitnessedFile): appending the same bytes again
	// waits for that index instead of logging the entry twice.
	unwitnessed map[[32]byte]uint64
}

// UnwitnessedFile, in a log directory, lists entries that were sequenced
// but whose append reported ErrNotWitnessed: one JSON line {hash, index}.
const UnwitnessedFile = "unwitnessed.jsonl"

// maxUnwitnessed bounds the entries kept in UnwitnessedFile (the newest).
const maxUnwitnessed = 4096

type unwitnessedLine struct {
	Hash  string `json:"hash"` // hex SHA-256 of the entry's bytes
	Index uint64 `json:"index"`
}

func loadUnwitnessed(dir string) map[[32]byte]uint64 {
	out := map[[32]byte]uint64{}
	b, err := os.ReadFile(filepath.Join(dir, UnwitnessedFile))
	if err != nil {
		return out
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		var u unwitnessedLine
		var h [32]byte
		if json.Unmarshal(line, &u) != nil {
			continue
		}
		if n, err := hex.Decode(h[:], []byte(u.Hash)); err != nil || n != len(h) {
			continue
		}
		out[h] = u.Index
	}
	return out
}

// add adds entry bytes b, or, if the same bytes were sequenced by an
// append that missed its witnessed checkpoint, returns their index.
func (l *Log) add(ctx context.Context, b []byte) (tessera.IndexFuture, [32]byte) {
	h := sha256.Sum256(b)
	l.mu.Lock()
	i, ok := l.unwitnessed[h]
	l.mu.Unlock()
	if ok {
		return func() (tessera.Index, error) { return tessera.Index{Index: i, IsDup: true}, nil }, h
	}
	return l.app.Add(ctx, tessera.NewEntry(b)), h
}

// remember keeps the index of an entry that was sequenced but not
// witnessed in time, so that appending it again is idempotent.
func (l *Log) remember(h [32]byte, f tessera.IndexFuture) {
	i, err := f()
	if err != nil {
		return // not sequenced: a retry must add it
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.unwitnessed[h]; ok {
		return
	}
	l.unwitnessed[h] = i.Index
	if len(l.unwitnessed) > maxUnwitnessed {
		var oldest [32]byte
		first := true
		for k, v := range l.unwitnessed {
			if first || v < l.unwitnessed[oldest] {
				oldest, first = k, false
			}
		}
		delete(l.unwitnessed, oldest)
	}
	var buf bytes.Buffer
	for k, v := range l.unwitnessed {
		line, _ := json.Marshal(unwitnessedLine{Hash: hex.EncodeToString(k[:]), Index: v})
		buf.Write(append(line, '\n'))
	}
	// Best effort: the caller is told the entry was not witnessed either way.
	_ = atomicfile.Write(filepath.Join(l.dir, UnwitnessedFile), buf.Bytes(), 0o600)
}

// miss notes that a wait with deadline dl found no witnessed checkpoint.
func (l *Log) miss(dl time.Time) {
	l.mu.Lock()
	if l.missed.IsZero() || dl.Before(l.missed) {
		l.missed = dl
	}
	l.mu.Unlock()
}

// notWitnessed turns a wait's deadline error into ErrNotWitnessed, naming
// the last refusal, and notes the miss.
func (l *Log) notWitnessed(err error, dl time.Time) error {
	if !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	l.miss(dl)
	err = fmt.Errorf("%w within %s", ErrNotWitnessed, l.timeout)
	if a := l.tr.lastAlert(); a != nil {
		err = fmt.Errorf("%w; last witness refusal: %s %s (%d %s)", err, a.Kind, a.URL, a.Status, a.Body)
	}
	return err
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
	if o.PollInterval == 0 {
		o.PollInterval = 2 * time.Millisecond
		if o.AWS != nil {
			o.PollInterval = 10 * time.Millisecond
		}
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
		WithAntispam(4096, nil). // the same bytes twice in one session: one entry

		WithShutdownTimeout(o.PublishTimeout))
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open log: %w", err)
	}
	l := &Log{Reader: rd, dir: dir, app: app, shutdown: shutdown, cancel: cancel, tr: tr, timeout: o.PublishTimeout, unwitnessed: loadUnwitnessed(dir)}
	l.aw = tessera.NewPublicationAwaiter(bctx, lr.ReadCheckpoint, o.PollInterval)
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
	dl := time.Now().Add(l.timeout)
	ctx, cancel := context.WithDeadline(ctx, dl)
	defer cancel()
	f, h := l.add(ctx, b)
	idx, cp, err := l.aw.Await(ctx, f)
	if err != nil {
		if isNoSpace(err) {
			err = fmt.Errorf("%w: %w", ErrStorageFull, err)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			l.remember(h, f)
		}
		return idx.Index, nil, l.notWitnessed(err, dl)
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
	f, h := l.add(ctx, b)
	idx, err := f()
	if err != nil {
		if isNoSpace(err) {
			err = fmt.Errorf("%w: %w", ErrStorageFull, err)
		}
		return 0, nil, err
	}
	return idx.Index, func(ctx context.Context) ([]byte, error) {
		dl := time.Now().Add(l.timeout)
		ctx, cancel := context.WithDeadline(ctx, dl)
		defer cancel()
		_, cp, err := l.aw.Await(ctx, f)
		if errors.Is(err, context.DeadlineExceeded) {
			l.remember(h, f)
		}
		return cp, l.notWitnessed(err, dl)
	}, nil
}

// AppendAsync adds e and returns a function that waits for its witnessed
// checkpoint, for callers that pipeline many appends. The wait ends with
// ErrNotWitnessed at the publish timeout counted from the add.
func (l *Log) AppendAsync(ctx context.Context, e Entry) (func() (uint64, []byte, error), error) {
	b, err := e.Marshal()
	if err != nil {
		return nil, err
	}
	dl := time.Now().Add(l.timeout)
	f, h := l.add(ctx, b)
	return func() (uint64, []byte, error) {
		ctx, cancel := context.WithDeadline(ctx, dl)
		defer cancel()
		idx, cp, err := l.aw.Await(ctx, f)
		if err != nil && isNoSpace(err) {
			err = fmt.Errorf("%w: %w", ErrStorageFull, err)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			l.remember(h, f)
		}
		return idx.Index, cp, l.notWitnessed(err, dl)
	}, nil
}

// Close waits for sequenced entries to be published and stops the log.
// After a wait that found no witnessed checkpoint it waits no longer than
// that wait's deadline (already passed: it stops at once), and the
// publication left undone is not an error again: the caller has been told.
func (l *Log) Close(ctx context.Context) error {
	defer l.cancel()
	defer l.tr.flush()
	l.mu.Lock()
	missed := l.missed
	l.mu.Unlock()
	if missed.IsZero() {
		return l.shutdown(ctx)
	}
	sctx, cancel := context.WithDeadline(ctx, missed)
	defer cancel()
	if err := l.shutdown(sctx); err != nil && sctx.Err() == nil {
		return err
	}
	return nil
}
