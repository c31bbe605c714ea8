package vault

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// The pending journal (docs/formats/tlog.md, "Pending key.unwrap
// journal"): key.unwrap entries of commands that wrote nothing else to
// the log wait in <home>/log/pending.jsonl, one JSON entry a line, each
// line fsynced before the unwrapped key is handed to the operation. The
// next append to the log (any mutating command, 'embassy audit', a watch
// cycle) takes them first, in the same witnessed batch, and empties the
// journal once the quorum has cosigned a checkpoint covering them. A
// read-only command therefore costs one local fsync instead of a
// witnessed append, and a kill -9 at any point loses no unwrap: before
// the line is synced the key has not been returned; after, the line is on
// disk until a cosigned checkpoint covers it. A crash between the append
// and the emptying re-appends the same entries with the next command (at
// least once; a duplicate has the same time, dataset, key and site).

// PendingFile is the journal's name in the log folder.
const PendingFile = "pending.jsonl"

// pendingLock serialises writers of the journal with the append that
// empties it (home/locks/log-pending.lock).
const pendingLock = "log-pending"

// maxPending bounds the journal a flush reads (a home's own file; a line
// is one entry of at most tlog.MaxEntrySize).
const maxPending = 64 << 20

// DetailRun names the command (one random id per opened vault) in its
// key.unwrap entries: two commands' unwraps of the same key in the same
// second stay two entries, and a journal re-appended after a crash is
// recognisable as the same unwraps.
const DetailRun = "run"

func (rc *Recorder) runID() string {
	rc.pendMu.Lock()
	defer rc.pendMu.Unlock()
	if rc.run == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		rc.run = hex.EncodeToString(b[:])
	}
	return rc.run
}

func (rc *Recorder) pendingPath() string { return filepath.Join(rc.Dir, PendingFile) }

func (rc *Recorder) lockPending() (func(), error) {
	return rc.v.Home.Acquire(home.LockRequest{Name: pendingLock, What: "the log's pending journal", Op: "log",
		Exclusive: true, Wait: 2 * time.Minute})
}

// journal appends ents to the pending journal and syncs it.
func (rc *Recorder) journal(ents []tlog.Entry) error {
	var buf bytes.Buffer
	for i := range ents {
		rc.Fill(&ents[i])
		b, err := json.Marshal(ents[i])
		if err != nil {
			return err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	if err := os.MkdirAll(rc.Dir, 0o700); err != nil {
		return err
	}
	unlock, err := rc.lockPending()
	if err != nil {
		return err
	}
	defer unlock()
	f, err := os.OpenFile(rc.pendingPath(), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if end > 0 { // a line torn by a crash is closed first, so that it stays one bad line
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, end-1); err != nil {
			return err
		}
		if last[0] != '\n' {
			buf = *bytes.NewBuffer(append([]byte{'\n'}, buf.Bytes()...))
		}
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if end == 0 {
		return syncDir(rc.Dir)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// DecodePending parses a pending journal: the entries of its complete,
// valid lines, and how many lines it skipped (torn by a crash, or not an
// entry).
func DecodePending(b []byte) (ents []tlog.Entry, bad int) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 { // torn last line: its writer died before it synced, before the key was used
			return ents, bad + 1
		}
		line := b[:i]
		b = b[i+1:]
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e tlog.Entry
		if err := json.Unmarshal(line, &e); err != nil || e.Validate() != nil {
			bad++
			continue
		}
		ents = append(ents, e)
	}
	return ents, bad
}

// readPending reads the journal (nil if there is none).
func (rc *Recorder) readPending() ([]tlog.Entry, error) {
	f, err := os.Open(rc.pendingPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPending+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPending {
		return nil, fmt.Errorf("%s is larger than %d MiB", rc.pendingPath(), maxPending>>20)
	}
	ents, bad := DecodePending(b)
	if bad > 0 {
		rc.v.notef("%s: %s skipped (torn by a crash or not log entries)", rc.pendingPath(), nouns(bad, "line"))
	}
	return ents, nil
}

// takeJournal locks the journal and returns its entries and a done
// function: done(true) empties the journal (its entries are in the log),
// done(false) leaves it; both release the lock. With a home that cannot
// be locked (read-only) it returns no entries and a no-op.
func (rc *Recorder) takeJournal() ([]tlog.Entry, func(appended bool)) {
	unlock, err := rc.lockPending()
	if err != nil {
		return nil, func(bool) {}
	}
	ents, err := rc.readPending()
	if err != nil {
		rc.v.notef("pending key.unwrap journal not read: %v", err)
	}
	return ents, func(appended bool) {
		if appended && len(ents) > 0 {
			if err := os.Remove(rc.pendingPath()); err != nil {
				rc.v.notef("pending key.unwrap journal not emptied (its entries may be logged twice): %v", err)
			}
		}
		unlock()
	}
}

// Pending returns the key.unwrap entries waiting in the journal for the
// next append ('embassy log' reports them).
func (rc *Recorder) Pending() ([]tlog.Entry, error) {
	return rc.readPending()
}
