// Package hint attaches operator-facing advice to errors: what went wrong is
// the error, what to do about it is the hint. The CLI prints both.
package hint

import "errors"

type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }

// Wrap returns err carrying the advice text. A nil err stays nil.
func Wrap(err error, advice string) error {
	if err == nil {
		return nil
	}
	return &hinted{err: err, hint: advice}
}

// Of returns the outermost hint carried by err, or "".
func Of(err error) string {
	var h *hinted
	if errors.As(err, &h) {
		return h.hint
	}
	return ""
}

// Recover is how to rebuild a home's keys when this home has lost them:
// recover refuses an existing home, so the advice names a new folder.
const Recover = "'embassy --home NEW-DIR recover --site URL --expect-home FINGERPRINT --identity KEY ...' (recover refuses an existing home), then use --home NEW-DIR"

// Code is an exit-code class carried by an error.
type Code int

const (
	CodeError   Code = 1 // generic failure
	CodeUsage   Code = 2 // bad flags or arguments
	CodeDamaged Code = 3 // verification found damage, or some sites failed
	CodeKey     Code = 4 // missing, wrong, or insufficient keys or shares
	CodeLocked  Code = 5 // another process holds a conflicting lock
)

type coded struct {
	err  error
	code Code
}

func (c *coded) Error() string { return c.err.Error() }
func (c *coded) Unwrap() error { return c.err }

// WithCode marks err with an exit-code class.
func WithCode(err error, code Code) error {
	if err == nil {
		return nil
	}
	return &coded{err: err, code: code}
}

// CodeOf returns the outermost code carried by err, or CodeError.
func CodeOf(err error) Code {
	var c *coded
	if errors.As(err, &c) {
		return c.code
	}
	return CodeError
}
