package trace

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/digital-embassy/embassy/internal/watch"
)

// Write stores the trace's events as gzipped JSON lines, and its labels as
// JSON beside them.
func (tr *Trace) Write(eventsPath, labelsPath string) error {
	f, err := os.Create(eventsPath)
	if err != nil {
		return err
	}
	defer f.Close()
	zw, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
	bw := bufio.NewWriter(zw)
	enc := json.NewEncoder(bw)
	for _, e := range tr.Events {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	lb, err := json.MarshalIndent(tr, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(labelsPath, append(lb, '\n'), 0o644)
}

// Read loads a trace written by Write. Malformed event lines are refused:
// a shipped trace must be whole.
func Read(eventsPath, labelsPath string) (*Trace, error) {
	lb, err := os.ReadFile(labelsPath)
	if err != nil {
		return nil, err
	}
	var tr Trace
	if err := json.Unmarshal(lb, &tr); err != nil {
		return nil, fmt.Errorf("%s: %w", labelsPath, err)
	}
	f, err := os.Open(eventsPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", eventsPath, err)
	}
	bad, reasons, err := watch.ReadAll(io.LimitReader(zr, 1<<30), func(e watch.Event) { tr.Events = append(tr.Events, e) })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", eventsPath, err)
	}
	if bad > 0 {
		return nil, fmt.Errorf("%s: %d malformed lines (%v)", eventsPath, bad, reasons)
	}
	return &tr, nil
}
