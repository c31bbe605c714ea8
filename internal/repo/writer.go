package repo

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/digital-embassy/embassy/internal/codec"
	"github.com/digital-embassy/embassy/internal/crashpoint"
	"github.com/digital-embassy/embassy/internal/seal"
	"github.com/digital-embassy/embassy/internal/site"
)

// packBufs bounds the full-size data pack buffers a writer holds at once:
// one filling and one per uploader. A fourth, for a full pack waiting for
// an uploader (bench/README.md, round three), made the first snapshot no
// faster once the writer kept its buffers, and cost 9 MiB of peak memory
// (bench/round4-snap.md). At least 2: the filling pack holds one while
// the blob that closes it waits for the next.
var packBufs = 3

// indexEvery is how many uploaded packs trigger an intermediate index
// object, so that an interrupted snapshot loses little work on re-run.
const indexEvery = 16

// indexMaxEntries also closes an index object once its packs hold this
// many blobs (12 MiB of index): reading one back holds several copies of
// it, and packs of tiny blobs made objects of 65 MB (bench/README.md,
// round three).
const indexMaxEntries = 1 << 18

// Writer adds blobs to a dataset: it deduplicates, compresses, seals,
// packs and uploads them, and writes index objects for the uploaded packs.
// SaveBlob is safe for concurrent use.
type Writer struct {
	d   *Dataset
	key *DataKey
	ctx context.Context

	mu       sync.Mutex
	packs    map[BlobType]*packBuilder
	pending  map[ID]bool
	finished []IndexPack
	// finishedEntries counts the blobs of finished.
	finishedEntries int
	err             error

	uploads chan *packBuilder
	wg      sync.WaitGroup
	// indexes carries batches of uploaded packs to the goroutine that
	// writes their index objects, off the upload path: an uploader does
	// not wait for the sync that must precede an index.
	indexes chan []IndexPack
	iwg     sync.WaitGroup
	// bufTokens bounds the pooled data pack buffers out at once.
	bufTokens chan struct{}
	// spare keeps the data pack buffers uploads gave back for the next
	// packs, until Flush or Abort returns them to the repository's pool: a
	// sync.Pool drops them at every other collection, and each one then
	// allocated again is 9 MiB more to fault in while the dropped one's
	// pages are still resident.
	spare chan []byte
	// comp holds the compression buffers of large blobs, one per core,
	// shared by the goroutines calling SaveBlob (see compBuf).
	comp chan []byte
	// failed is closed at the first error, releasing a wait for a buffer.
	failed     chan struct{}
	failedOnce sync.Once
	closed     bool

	// noIndex (prune) keeps uploaded packs in repacked instead of writing
	// index objects for them, and ignores the dataset index for dedup.
	noIndex  bool
	repacked []IndexPack

	Stats WriterStats
}

// WriterStats count what a writer stored.
type WriterStats struct {
	NewBlobs  atomic.Int64
	NewRaw    atomic.Int64
	NewStored atomic.Int64
	Packs     atomic.Int64
	Indexes   atomic.Int64
	Uploaded  atomic.Int64 // bytes of packs stored at the sites
}

// NewWriter starts a writer. Uploads run in the background until Flush.
func (d *Dataset) NewWriter(ctx context.Context) *Writer {
	w := &Writer{d: d, key: d.Keys.CurrentKey(), ctx: ctx,
		packs: map[BlobType]*packBuilder{}, pending: map[ID]bool{},
		uploads: make(chan *packBuilder), indexes: make(chan []IndexPack, 4),
		bufTokens: make(chan struct{}, packBufs), spare: make(chan []byte, packBufs), failed: make(chan struct{})}
	w.comp = make(chan []byte, runtime.GOMAXPROCS(0))
	for range cap(w.comp) {
		w.comp <- nil
	}
	w.iwg.Add(1)
	go w.indexer()
	n := 2
	for range n {
		w.wg.Add(1)
		go w.uploader()
	}
	return w
}

func (w *Writer) setErr(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.failedOnce.Do(func() { close(w.failed) })
}

// Err returns the first background error.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Has reports whether the dataset already holds blob id (or it is queued).
func (w *Writer) Has(id ID) bool {
	if w.d.Idx.Has(id) {
		return true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pending[id]
}

// Scratch holds reusable buffers for one goroutine calling SaveBlob: the
// compression buffer of its small blobs (trees, small files).
type Scratch struct{ comp []byte }

// sharedComp is the size from which a blob is compressed into one of the
// writer's shared buffers instead of the caller's Scratch.
const sharedComp = 64 << 10

// compBuf returns the buffer to compress a blob of n bytes into, and the
// function that gives it back once the blob is sealed. Large blobs share
// one buffer per core: compressing is CPU work, so more callers than
// cores (the archiver runs one worker more) gain nothing from buffers of
// their own, and each is MaxEncodedLen of a chunk (4.8 MiB for 4 MiB
// chunks). Small blobs use the caller's Scratch, without waiting.
func (w *Writer) compBuf(n int, sc *Scratch) ([]byte, func([]byte), error) {
	// Buffers are grown here, not in Compress: one it grew for a blob that
	// then did not shrink enough would be dropped, and allocated again for
	// the next (12 MB of garbage over the 2 GiB corpus).
	if n < sharedComp {
		if cap(sc.comp) < codec.Bound(n) {
			sc.comp = make([]byte, 0, codec.Bound(sharedComp))
		}
		return sc.comp, func(b []byte) { sc.comp = b[:0] }, nil
	}
	select {
	case b := <-w.comp:
		if cap(b) < codec.Bound(n) {
			// Once for the largest chunk, not at every larger size (only
			// the pages written to become resident).
			m := n
			if d := w.d.r.desc; d != nil {
				m = max(n, d.ChunkMax)
			}
			b = make([]byte, 0, codec.Bound(m))
		}
		return b, func(b []byte) { w.comp <- b[:0] }, nil
	case <-w.ctx.Done():
		return nil, nil, w.ctx.Err()
	case <-w.failed:
		return nil, nil, w.Err()
	}
}

// SaveBlob stores plain unless the dataset already has it. It returns the
// blob's ID and whether it was new.
func (w *Writer) SaveBlob(t BlobType, plain []byte, sc *Scratch) (ID, bool, error) {
	id := w.d.BlobID(plain)
	if w.d.Idx.Has(id) {
		return id, false, nil
	}
	return w.store(t, id, plain, sc)
}

// rewriteBlob stores a blob again even though the index knows it (repack).
func (w *Writer) rewriteBlob(t BlobType, id ID, plain []byte, sc *Scratch) (bool, error) {
	_, isNew, err := w.store(t, id, plain, sc)
	return isNew, err
}

func (w *Writer) store(t BlobType, id ID, plain []byte, sc *Scratch) (ID, bool, error) {
	w.mu.Lock()
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return id, false, err
	}
	if w.pending[id] {
		w.mu.Unlock()
		return id, false, nil
	}
	w.pending[id] = true
	w.mu.Unlock()

	mode := w.d.r.opts.Compression
	if t == BlobTree {
		mode = codec.Auto
	}
	payload, cid, release := plain, codec.None, func() {}
	if mode != codec.Off && len(plain) > 0 {
		comp, done, err := w.compBuf(len(plain), sc)
		if err != nil {
			return id, false, err
		}
		out, c := codec.Compress(comp[:0], plain, mode)
		if c != codec.None {
			payload, cid, comp = out, c, out
		}
		// The buffer goes back once the payload is sealed into the pack
		// (or this call fails).
		release = func() {
			if done != nil {
				done(comp)
				done = nil
			}
		}
		defer release()
	}
	boxLen := len(payload) + seal.Overhead

	var fulls []*packBuilder
	tok := false
	w.mu.Lock()
	p := w.packs[t]
	for {
		p = w.packs[t]
		if p != nil && (p.fits(boxLen) || p.inflight == 0 && !p.pooled) {
			break // room in it (or it can grow)
		}
		if tok || !w.pooledFor(t, boxLen) {
			break
		}
		// A new pooled buffer: wait for one of the bounded few, without
		// the lock (uploads return them).
		w.mu.Unlock()
		select {
		case w.bufTokens <- struct{}{}:
			tok = true
		case <-w.ctx.Done():
			return id, false, w.ctx.Err()
		case <-w.failed:
			return id, false, w.Err()
		}
		w.mu.Lock()
	}
	if p != nil && !p.fits(boxLen) && (p.inflight > 0 || p.pooled) {
		fulls = append(fulls, p) // no room and busy: close it
		p = nil
	}
	if p == nil {
		p = w.newPack(t, boxLen)
		if p.pooled && tok {
			p.token, tok = true, false
		}
		w.packs[t] = p
	}
	if tok {
		<-w.bufTokens // not needed after all
	}
	dst := p.reserve(t, cid, id, boxLen, len(plain))
	if p.size() >= w.d.r.opts.PackSize {
		fulls = append(fulls, p)
		delete(w.packs, t)
	}
	w.mu.Unlock()
	w.key.Enc.Seal(dst, payload, blobAD(t, cid, id))
	release()
	w.mu.Lock()
	p.inflight--
	w.mu.Unlock()
	p.filled.Done()
	w.Stats.NewStored.Add(int64(boxLen))
	for _, f := range fulls {
		if err := w.send(f); err != nil {
			return id, true, err
		}
	}
	w.Stats.NewBlobs.Add(1)
	w.Stats.NewRaw.Add(int64(len(plain)))
	return id, true, nil
}

// pooledFor reports whether a new pack for a blob of boxLen gets a pooled
// buffer of the full pack size.
func (w *Writer) pooledFor(t BlobType, boxLen int) bool {
	return t == BlobData && boxLen+packPrefixLen <= w.d.r.opts.PackSize+chunkSlack
}

// releaseBuf returns a pooled pack's buffer token.
func (w *Writer) releaseBuf(p *packBuilder) {
	if p.token {
		p.token = false
		<-w.bufTokens
	}
}

func (w *Writer) send(p *packBuilder) error {
	select {
	case w.uploads <- p:
		return nil
	case <-w.ctx.Done():
		return w.ctx.Err()
	}
}

func (w *Writer) indexer() {
	defer w.iwg.Done()
	for batch := range w.indexes {
		if w.Err() != nil || w.ctx.Err() != nil {
			continue
		}
		if err := w.writeIndex(batch, nil); err != nil {
			w.setErr(err)
		}
	}
}

func (w *Writer) uploader() {
	defer w.wg.Done()
	for p := range w.uploads {
		if w.Err() != nil || w.ctx.Err() != nil {
			w.releaseBuf(p)
			continue
		}
		if err := w.upload(p); err != nil {
			w.setErr(err)
		}
	}
}

// newPack starts a pack with room for at least boxLen more bytes. Data
// packs use pooled buffers of the full pack size; tree packs start small
// and grow (only one goroutine writes trees).
func (w *Writer) newPack(t BlobType, boxLen int) *packBuilder {
	std := w.d.r.opts.PackSize + chunkSlack
	if w.pooledFor(t, boxLen) {
		var buf []byte
		select {
		case buf = <-w.spare:
		default:
			buf = w.d.r.getPackBuf(std)
		}
		p := newPackBuilder(w.key.Version, buf[:0])
		p.pooled = true
		return p
	}
	if t == BlobData {
		return newPackBuilder(w.key.Version, make([]byte, 0, boxLen+packPrefixLen+1<<16))
	}
	return newPackBuilder(w.key.Version, make([]byte, 0, max(1<<20, 2*(boxLen+packPrefixLen))))
}

// chunkSlack is the room a data pack buffer keeps beyond the target size
// for the last chunk and the header. A chunk that does not fit closes the
// pack; the rare chunk larger than a whole buffer gets a pack of its own.
const chunkSlack = 1<<20 + 1<<16

func (w *Writer) upload(p *packBuilder) error {
	data := p.finish(w.key.Enc, w.d.Keys.ID)
	id := Hash(data)
	err := w.d.r.putAll(w.ctx, w.d.PackHandle(id), data, true)
	if p.pooled && cap(data) >= w.d.r.opts.PackSize+chunkSlack {
		select {
		case w.spare <- data[:0]:
		default:
			w.d.r.putPackBuf(data)
		}
	}
	w.releaseBuf(p)
	if err != nil {
		return fmt.Errorf("upload pack: %w", err)
	}
	w.Stats.Packs.Add(1)
	w.Stats.Uploaded.Add(int64(len(data)))
	ip := IndexPack{ID: id, KeyVersion: p.keyVer, Size: int64(len(data)), Entries: p.entries}
	w.mu.Lock()
	if w.noIndex {
		w.repacked = append(w.repacked, ip)
		w.mu.Unlock()
		return nil
	}
	w.mu.Unlock()
	w.d.Idx.addPack(ip)
	w.mu.Lock()
	for _, e := range p.entries {
		delete(w.pending, e.ID)
	}
	w.finished = append(w.finished, ip)
	w.finishedEntries += len(ip.Entries)
	var batch []IndexPack
	if len(w.finished) >= indexEvery || w.finishedEntries >= indexMaxEntries {
		batch, w.finished, w.finishedEntries = w.finished, nil, 0
	}
	w.mu.Unlock()
	if batch != nil {
		select {
		case w.indexes <- batch:
		case <-w.ctx.Done():
			return w.ctx.Err()
		}
	}
	return nil
}

// AdoptPacks queues already-uploaded packs (found orphaned after a crash)
// for the next index object.
func (w *Writer) AdoptPacks(ps []IndexPack) {
	for _, p := range ps {
		w.d.Idx.addPack(p)
	}
	w.mu.Lock()
	w.finished = append(w.finished, ps...)
	for _, p := range ps {
		w.finishedEntries += len(p.Entries)
	}
	w.mu.Unlock()
}

func (w *Writer) writeIndex(packs []IndexPack, supersedes []ID) error {
	// The packs an index names must be durable before the index is.
	if err := w.d.r.SyncAll(w.ctx); err != nil {
		return fmt.Errorf("sync packs: %w", err)
	}
	f := &IndexFile{Packs: packs, Supersedes: supersedes}
	var plain []byte
	if r := w.d.r; r.root != nil {
		plain = f.EncodeSigned(w.d.Keys.ID, r.current, r.root.Signer())
	} else {
		plain = f.Encode()
	}
	obj := sealObject(w.key.Enc, w.key.Version, objIndex, w.d.Keys.ID, plain)
	id := Hash(obj)
	crashpoint.Hit("repo.index")
	if err := w.d.r.PutAll(w.ctx, w.d.IndexHandle(id), obj); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	w.d.Idx.addFile(id, f)
	w.Stats.Indexes.Add(1)
	return nil
}

// Flush uploads partial packs, waits for all uploads and writes the index
// for them. The writer cannot be used afterwards.
func (w *Writer) Flush() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return errors.New("writer already flushed")
	}
	w.closed = true
	var rest []*packBuilder
	for t, p := range w.packs {
		rest = append(rest, p)
		delete(w.packs, t)
	}
	w.mu.Unlock()
	for _, p := range rest {
		if err := w.send(p); err != nil {
			break
		}
	}
	close(w.uploads)
	w.wg.Wait()
	w.dropSpare()
	close(w.indexes)
	w.iwg.Wait()
	if err := w.Err(); err != nil {
		return err
	}
	if err := w.ctx.Err(); err != nil {
		return err
	}
	w.mu.Lock()
	batch := w.finished
	w.finished, w.finishedEntries = nil, 0
	w.mu.Unlock()
	if len(batch) > 0 && !w.noIndex {
		return w.writeIndex(batch, nil)
	}
	return nil
}

// dropSpare hands the spare pack buffers back to the repository's pool,
// once the uploads are done.
func (w *Writer) dropSpare() {
	for {
		select {
		case b := <-w.spare:
			w.d.r.putPackBuf(b)
		default:
			return
		}
	}
}

// Abort stops the writer without writing anything more.
func (w *Writer) Abort() {
	w.setErr(context.Canceled)
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.uploads)
		w.mu.Unlock()
		w.wg.Wait()
		w.dropSpare()
		close(w.indexes)
		w.iwg.Wait()
		return
	}
	w.mu.Unlock()
	w.wg.Wait()
}

// SaveSnapshot signs, seals and writes a manifest. Call after Flush: a
// manifest must only ever refer to blobs whose packs and index are stored.
func (d *Dataset) SaveSnapshot(ctx context.Context, s *Snapshot) (ID, error) {
	if err := d.r.needRoot(); err != nil {
		return ID{}, err
	}
	k := d.Keys.CurrentKey()
	s.Format, s.Home, s.Dataset, s.DatasetID, s.KeyVersion = snapshotFormat, d.r.home, d.Keys.Name, d.Keys.ID, k.Version
	if s.Time.IsZero() {
		s.Time = d.r.now()
	}
	if s.Indexes = d.liveIndexes(); len(s.Indexes) == 0 {
		return ID{}, fmt.Errorf("snapshot of dataset %s: no index lists its blobs (save the snapshot after Flush)", d.Keys.Name)
	}
	plain, err := signManifest(s, d.r.current, d.r.root.Signer())
	if err != nil {
		return ID{}, err
	}
	obj := sealObject(k.Enc, k.Version, objSnapshot, d.Keys.ID, plain)
	id := Hash(obj)
	crashpoint.Hit("repo.snapshot")
	if err := d.r.PutAll(ctx, d.SnapshotHandle(id), obj); err != nil {
		return ID{}, fmt.Errorf("write snapshot manifest: %w", err)
	}
	// The commit point: the home's signed state lists the manifest and
	// advances the dataset's head.
	err = d.r.updateState(ctx, func(st *StateBody) error {
		sd := st.Dataset(d.Keys.ID)
		if sd == nil {
			return fmt.Errorf("dataset %s is not in the home's signed state (shredded meanwhile?)", d.Keys.Name)
		}
		if !sd.Has(id) {
			sd.Snapshots = append(sd.Snapshots, id)
		}
		sd.Head.Seq++
		sd.Head.Latest = &id
		return nil
	})
	if err != nil {
		return ID{}, fmt.Errorf("commit snapshot: %w", err)
	}
	s.ID, s.Epoch = id, d.r.current
	return id, nil
}

// Forget removes manifests from the home's signed state and deletes them at
// every site, leaving a signed tombstone for each so that a copy a site
// keeps or puts back is refused. It commits twice: first the manifests
// leave the live set (marked as being forgotten), then, once deleted, they
// become tombstones; a manifest left by an interrupted forget is therefore
// not mistaken for a resurrected one, and the next forget finishes it.
func (d *Dataset) Forget(ctx context.Context, ids []ID) error {
	if sd := d.r.curState().Dataset(d.Keys.ID); len(ids) == 0 && (sd == nil || len(sd.Forgetting) == 0) {
		return nil
	}
	var todo []ID
	err := d.r.updateState(ctx, func(st *StateBody) error {
		sd := st.Dataset(d.Keys.ID)
		if sd == nil {
			return fmt.Errorf("dataset %s is not in the home's signed state", d.Keys.Name)
		}
		drop := map[ID]bool{}
		for _, id := range ids {
			drop[id] = true
			if !sd.WasForgotten(id) && !sd.IsForgetting(id) {
				sd.Forgetting = append(sd.Forgetting, id)
			}
		}
		kept := sd.Snapshots[:0]
		for _, id := range sd.Snapshots {
			if !drop[id] {
				kept = append(kept, id)
			}
		}
		sd.Snapshots = kept
		sd.Head.Latest = nil
		if n := len(kept); n > 0 {
			l := kept[n-1]
			sd.Head.Latest = &l
		}
		todo = slices.Clone(sd.Forgetting)
		return nil
	})
	if err != nil {
		return fmt.Errorf("forget: %w", err)
	}
	var errs []error
	for _, id := range todo {
		if err := d.r.DeleteAll(ctx, d.SnapshotHandle(id)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err // still marked as being forgotten: run forget again
	}
	done := map[ID]bool{}
	for _, id := range todo {
		done[id] = true
	}
	err = d.r.updateState(ctx, func(st *StateBody) error {
		sd := st.Dataset(d.Keys.ID)
		if sd == nil {
			return nil
		}
		rest := sd.Forgetting[:0]
		for _, id := range sd.Forgetting {
			if done[id] {
				if !sd.WasForgotten(id) {
					sd.Forgotten = append(sd.Forgotten, id)
				}
				continue
			}
			rest = append(rest, id)
		}
		sd.Forgetting = rest
		return nil
	})
	if err != nil {
		return fmt.Errorf("forget: record tombstones: %w", err)
	}
	return nil
}

// RecoverOrphans finds packs at the sites that no index lists (left by an
// interrupted snapshot), authenticates their headers and returns them so
// that a writer can adopt them instead of uploading their blobs again.
func (d *Dataset) RecoverOrphans(ctx context.Context) ([]IndexPack, error) {
	known := d.Idx.Packs()
	var orphans []site.Info
	err := d.r.listUnion(ctx, site.KindPack, func(fi site.Info) error {
		if id, ok := parseObjectName(d.Keys.ID, fi.Handle.Name); ok {
			if _, ok := known[id]; !ok {
				orphans = append(orphans, fi)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []IndexPack
	for _, fi := range orphans {
		id, _ := parseObjectName(d.Keys.ID, fi.Handle.Name)
		var ip *IndexPack
		err := d.r.readFirst(ctx, fi.Handle, 0, 0, func(_ *Site, b []byte) error {
			if Hash(b) != id {
				return fmt.Errorf("pack %s does not match its name", id.Short())
			}
			p, err := d.openPack(id, b)
			ip = p
			return err
		})
		if err != nil {
			// A damaged orphan is simply not adopted; prune removes it.
			d.r.log.WarnContext(ctx, "unreadable orphan pack ignored", "pack", id.Short(), "err", err)
			continue
		}
		out = append(out, *ip)
	}
	return out, nil
}

// openPack authenticates a whole pack's header.
func (d *Dataset) openPack(id ID, b []byte) (*IndexPack, error) {
	ver, err := ParsePackPrefix(b)
	if err != nil {
		return nil, err
	}
	k, err := d.Keys.Key(ver)
	if err != nil {
		return nil, err
	}
	ents, err := OpenPackHeader(b, k.Enc, d.Keys.ID)
	if err != nil {
		return nil, err
	}
	return &IndexPack{ID: id, KeyVersion: ver, Size: int64(len(b)), Entries: ents}, nil
}
