// Package watch is the watchman of a digital embassy: it learns the normal
// pattern of the streams a home sees (host sessions, key uses, dataset
// reads, restores, proof-of-storage latency, witness cosigning delay) and
// raises an alert, with the baseline and the observed value, when one
// departs from it.
//
// Events come from outside the home (host daemons file sessions, witnesses
// answer with their delays), so every decoder here treats its input as
// hostile: bounded lines, bounded fields, control characters removed, clock
// jumps tolerated.
package watch

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Stream kinds the detector understands.
const (
	KindSession = "session" // a host operator session at a site (Actor: the operator)
	KindKeyUse  = "key.use" // a dataset key unwrapped or released at a site
	KindRead    = "read"    // a dataset read (restore, verify --read-data, workload fetch)
	KindRestore = "restore" // a dataset restored from a site
	KindProof   = "proof"   // a proof-of-storage round trip (Value: latency in ms)
	KindCosign  = "cosign"  // a witness cosignature (Value: delay in ms; Site: the witness)
)

// Event is one observation.
type Event struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Site    string    `json:"site,omitempty"`
	Dataset string    `json:"dataset,omitempty"`
	Actor   string    `json:"actor,omitempty"`
	Value   float64   `json:"value,omitempty"`
}

// Limits on what one event may carry; longer fields are cut, not refused,
// so that a hostile host cannot hide other events behind one bad line.
const (
	MaxLine  = 4096
	maxField = 128
)

// ErrMalformed wraps every decoding refusal.
var ErrMalformed = errors.New("malformed event")

// Clean returns the field cut to a bounded length with control characters
// and invalid UTF-8 replaced, safe to print on a terminal or a web page's
// text node.
func Clean(s string) string { return CleanN(s, maxField) }

// CleanN is Clean with a bound of n bytes, for text longer than one
// event field (an alert's explanation, which names sites and a command).
func CleanN(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	if !strings.ContainsFunc(s, func(r rune) bool { return r == utf8.RuneError || unicode.IsControl(r) }) && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "?") {
		if unicode.IsControl(r) {
			b.WriteByte('?')
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Decode parses one JSON event, bounding and cleaning every field.
func Decode(line []byte) (Event, error) {
	if len(line) > MaxLine {
		return Event{}, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, len(line), MaxLine)
	}
	var ev Event
	if err := json.Unmarshal(line, &ev); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if ev.Time.IsZero() {
		return Event{}, fmt.Errorf("%w: no time", ErrMalformed)
	}
	if ev.Time.Year() < 2000 || ev.Time.Year() > 9000 {
		return Event{}, fmt.Errorf("%w: time %s out of range", ErrMalformed, ev.Time.Format(time.RFC3339))
	}
	ev.Kind, ev.Site, ev.Dataset, ev.Actor = Clean(ev.Kind), Clean(ev.Site), Clean(ev.Dataset), Clean(ev.Actor)
	if ev.Kind == "" {
		return Event{}, fmt.Errorf("%w: no kind", ErrMalformed)
	}
	if ev.Value != ev.Value || ev.Value < 0 || ev.Value > 1e12 { // NaN, negative, absurd
		return Event{}, fmt.Errorf("%w: value %v out of range", ErrMalformed, ev.Value)
	}
	return ev, nil
}

// ReadAll decodes a stream of JSON lines. Malformed lines are counted and
// skipped (the first few reasons are kept), never fatal, so one hostile line
// cannot hide the events after it.
func ReadAll(r io.Reader, fn func(Event)) (bad int, reasons []string, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for {
		if !sc.Scan() {
			if errors.Is(sc.Err(), bufio.ErrTooLong) {
				// Skip the rest of an over-long line and carry on.
				bad++
				reasons = appendReason(reasons, "line longer than 1 MiB")
				sc = bufio.NewScanner(skipLine(r))
				sc.Buffer(make([]byte, 64*1024), 1<<20)
				continue
			}
			return bad, reasons, sc.Err()
		}
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		ev, derr := Decode(line)
		if derr != nil {
			bad++
			reasons = appendReason(reasons, derr.Error())
			continue
		}
		fn(ev)
	}
}

func appendReason(rs []string, r string) []string {
	if len(rs) < 5 {
		rs = append(rs, r)
	}
	return rs
}

// skipLine returns r after its next newline.
func skipLine(r io.Reader) io.Reader {
	br := bufio.NewReader(r)
	for {
		_, isPrefix, err := br.ReadLine()
		if err != nil || !isPrefix {
			return br
		}
	}
}
