package evidence

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Event is one line of the journal: a drill, an activation, a deactivation
// or an RPO alert. Digest is the SHA-256 of the signed document, if any, so
// the transparency log can later commit to exactly that document.
type Event struct {
	Time    time.Time      `json:"time"`
	Type    string         `json:"type"` // drill, activation, deactivation, alert
	Home    string         `json:"home,omitempty"`
	Summary string         `json:"summary"`
	Digest  string         `json:"digest,omitempty"`
	Fields  map[string]any `json:"fields,omitempty"`
}

// Appender receives events; the transparency log will implement it too.
type Appender interface {
	Append(ev Event) error
}

// Journal appends events to a JSON-lines file opened O_APPEND, one write
// per line, so concurrent writers never interleave within a line.
type Journal struct{ Path string }

var _ Appender = Journal{}

// Append writes ev as one line.
func (j Journal) Append(ev Event) error {
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC() //nolint:forbidigo // the default clock: callers that pin it stamp ev.Time
	}
	return AppendLine(j.Path, ev)
}

// AppendLine appends v as one JSON line to the file at path, creating it
// (mode 0600) if needed. Each line is one write on an O_APPEND file.
func AppendLine(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("append %s: %w", filepath.Base(path), err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("append %s: %w", filepath.Base(path), err)
	}
	return f.Close()
}

// ReadJournal returns every event of the file at path (none if missing).
func ReadJournal(path string) ([]Event, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Event
	for i, line := range splitLines(b) {
		var ev Event
		if err := json.Unmarshal(line, &ev); err != nil {
			return out, fmt.Errorf("journal %s line %d: %w", path, i+1, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		if i > 0 {
			out = append(out, b[:i])
		}
		if i < len(b) {
			i++
		}
		b = b[i:]
	}
	return out
}
