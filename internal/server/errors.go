package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/digital-embassy/embassy/internal/api"
	"github.com/digital-embassy/embassy/internal/site"
)

// httpError is a failure with a message safe to show the client; err is
// internal detail for the log only.
type httpError struct {
	status int
	code   string
	msg    string
	err    error
}

func (e *httpError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *httpError) Unwrap() error { return e.err }

func fail(status int, code, msg string, err error) error {
	return &httpError{status: status, code: code, msg: msg, err: err}
}

func badRequest(msg string) error { return fail(http.StatusBadRequest, api.CodeBadRequest, msg, nil) }

// siteError maps a backend error to a response.
func siteError(err error) error {
	switch {
	case errors.Is(err, site.ErrNotFound):
		return fail(http.StatusNotFound, api.CodeNotFound, "object not found", nil)
	case errors.Is(err, site.ErrExists):
		return fail(http.StatusPreconditionFailed, api.CodeExists, "object already exists", nil)
	case errors.Is(err, site.ErrRange):
		return fail(http.StatusRequestedRangeNotSatisfiable, api.CodeRange, "range outside object", nil)
	case errors.Is(err, context.Canceled):
		return fail(499, "canceled", "request canceled", err)
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return fail(http.StatusRequestEntityTooLarge, api.CodeTooLarge, "body larger than declared or allowed", err)
	}
	return fail(http.StatusInternalServerError, api.CodeInternal, "storage failure at the site", err)
}

func writeError(w http.ResponseWriter, he *httpError) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Del("Content-Length")
	w.WriteHeader(he.status)
	_ = json.NewEncoder(w).Encode(api.Error{Code: he.code, Message: he.msg}) // a client gone before the answer: nothing to do
}
