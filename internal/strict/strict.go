// Package strict decodes JSON read from outside the home the one strict
// way: exactly one value, no field the type does not name, nothing after
// it. A document with an unknown field is refused rather than partly
// understood (a host could otherwise smuggle a field a later version would
// read).
package strict

import (
	"bytes"
	"encoding/json"
	"errors"
)

// ErrTrailing is returned for bytes after the one JSON value.
var ErrTrailing = errors.New("trailing data")

// JSON decodes b into v strictly. Only JSON whitespace may follow the
// value: a second value, garbage or a stray closing bracket is ErrTrailing
// (the decoder's More reports a trailing '}' or ']' as the end of a
// document, so it is not used).
func JSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if len(bytes.TrimLeft(b[dec.InputOffset():], " \t\r\n")) > 0 {
		return ErrTrailing
	}
	return nil
}
