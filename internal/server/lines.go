package server

import (
	"bufio"
	"encoding/json"
	"net/http"
)

// lineEncoder streams NDJSON, flushing every few hundred lines.
type lineEncoder struct {
	w       http.ResponseWriter
	bw      *bufio.Writer
	enc     *json.Encoder
	lines   int
	started bool
}

func newLineEncoder(w http.ResponseWriter) *lineEncoder {
	bw := bufio.NewWriterSize(w, 32<<10)
	return &lineEncoder{w: w, bw: bw, enc: json.NewEncoder(bw)}
}

func (e *lineEncoder) encode(v any) error {
	if err := e.enc.Encode(v); err != nil {
		return err
	}
	if e.lines++; e.lines%512 == 0 {
		return e.flush()
	}
	return nil
}

func (e *lineEncoder) flush() error {
	e.started = true
	if err := e.bw.Flush(); err != nil {
		return err
	}
	http.NewResponseController(e.w).Flush()
	return nil
}
