package metrics

import "net/http"

// StatusRecorder wraps a ResponseWriter to learn the status a handler
// answered with, for the request metrics of every server. It passes
// Flush through (live streams) and unwraps for http.ResponseController.
type StatusRecorder struct {
	http.ResponseWriter
	code int
}

// NewStatusRecorder wraps w.
func NewStatusRecorder(w http.ResponseWriter) *StatusRecorder {
	return &StatusRecorder{ResponseWriter: w}
}

// Code is the status sent: the first WriteHeader's, 200 after a plain
// Write or when the handler wrote nothing.
func (s *StatusRecorder) Code() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}

func (s *StatusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *StatusRecorder) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

func (s *StatusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *StatusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
