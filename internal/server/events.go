package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/api"
	"github.com/digital-embassy/embassy/internal/atomicfile"
)

// Event is an access event shown to the host operator.
type Event = api.Event

// Bounds of the event window and file.
const (
	DefaultMaxEvents      = 1000    // authenticated events kept (logins, refusals of known identities, disclosures)
	DefaultMaxNoiseEvents = 256     // aggregated events of unauthenticated peers kept
	DefaultMaxEventsFile  = 8 << 20 // events file size that triggers compaction
	maxEventLine          = 64 << 10
)

// eventLog keeps two bounded windows: events of authenticated peers, and
// aggregated events of unauthenticated ones. Noise never evicts an
// authenticated event, so a flood of junk handshakes cannot push a host
// operator's session out before the home pulls it. With a path it also
// appends each event to a JSON-lines file so that a restart loses nothing
// the home has not pulled; when the file grows past maxFile it is rewritten
// (atomically) with the two windows only.
type eventLog struct {
	mu       sync.Mutex
	max      int
	maxNoise int
	maxFile  int64
	list     []Event
	noise    []Event
	path     string
	size     int64
	log      *slog.Logger
	counted  func(kind string) // called for every event recorded (metrics)
}

func newEventLog(path string, maxFile int64, log *slog.Logger) *eventLog {
	if maxFile <= 0 {
		maxFile = DefaultMaxEventsFile
	}
	return &eventLog{max: DefaultMaxEvents, maxNoise: DefaultMaxNoiseEvents, maxFile: maxFile, path: path, log: log}
}

// isNoise tells events of unauthenticated peers (no identity) apart.
func isNoise(e Event) bool { return e.Identity == "" }

// decodeEventLine parses one line of the events file.
func decodeEventLine(b []byte) (Event, error) {
	var e Event
	b = bytes.TrimSpace(b)
	if len(b) == 0 || len(b) > maxEventLine {
		return e, errors.New("empty or oversized event line")
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, err
	}
	if e.Kind == "" || e.Time.IsZero() || e.Count < 0 {
		return e, errors.New("event without kind or time")
	}
	return e, nil
}

// load reads the windows back from the file, skipping damaged lines.
func (l *eventLog) load() error {
	if l.max <= 0 {
		l.max = DefaultMaxEvents
	}
	if l.maxNoise <= 0 {
		l.maxNoise = DefaultMaxNoiseEvents
	}
	if l.maxFile <= 0 {
		l.maxFile = DefaultMaxEventsFile
	}
	if l.path == "" {
		return nil
	}
	f, err := os.Open(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, maxEventLine)
	skipped := 0
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			skipped++
			for errors.Is(err, bufio.ErrBufferFull) { // drop the rest of an oversized line
				_, err = br.ReadSlice('\n')
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			continue
		}
		if len(bytes.TrimSpace(line)) > 0 {
			if e, derr := decodeEventLine(line); derr == nil {
				l.keepLocked(e)
			} else {
				skipped++
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if skipped > 0 && l.log != nil {
		l.log.Warn("events file: skipped damaged lines", "file", l.path, "lines", skipped)
	}
	if st, err := f.Stat(); err == nil {
		l.size = st.Size()
	}
	if l.size > l.maxFile {
		return l.compactLocked()
	}
	return nil
}

// keepLocked puts e in its window, dropping that window's oldest event.
func (l *eventLog) keepLocked(e Event) {
	if isNoise(e) {
		if len(l.noise) >= l.maxNoise {
			l.noise = slices.Delete(l.noise, 0, len(l.noise)-l.maxNoise+1)
		}
		l.noise = append(l.noise, e)
		return
	}
	if len(l.list) >= l.max {
		l.list = slices.Delete(l.list, 0, len(l.list)-l.max+1)
	}
	l.list = append(l.list, e)
}

// add records an event of an authenticated peer.
func (l *eventLog) add(e Event) { l.record(e) }

// addNoise records an aggregated event of unauthenticated peers.
func (l *eventLog) addNoise(e Event) {
	e.Identity, e.Role = "", ""
	l.record(e)
}

func (l *eventLog) record(e Event) {
	if l.counted != nil {
		l.counted(e.Kind)
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keepLocked(e)
	if l.path == "" {
		return
	}
	n, err := appendLine(l.path, e)
	l.size += int64(n)
	if err == nil && l.size > l.maxFile {
		err = l.compactLocked()
	}
	if err != nil && l.log != nil {
		l.log.Error("events file", "err", err)
	}
}

// compactLocked rewrites the file with the two windows only.
func (l *eventLog) compactLocked() error {
	var b bytes.Buffer
	for _, e := range l.mergedLocked() {
		line, err := json.Marshal(e)
		if err != nil {
			return err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := atomicfile.Write(l.path, b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("compact events file: %w", err)
	}
	l.size = int64(b.Len())
	return nil
}

func (l *eventLog) mergedLocked() []Event {
	out := make([]Event, 0, len(l.list)+len(l.noise))
	out = append(append(out, l.list...), l.noise...)
	slices.SortStableFunc(out, func(a, b Event) int { return a.Time.Compare(b.Time) })
	return out
}

// snapshot returns both windows, oldest first.
func (l *eventLog) snapshot() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mergedLocked()
}

// appendLine writes v as one JSON line with a single O_APPEND write and
// returns the bytes written.
func appendLine(path string, v any) (int, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := f.Write(append(b, '\n'))
	if err != nil {
		f.Close()
		return n, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return n, err
	}
	return n, f.Close()
}
