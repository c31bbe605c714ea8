package server

import (
	"fmt"
	"io"

	"github.com/digital-embassy/embassy/internal/strict"
)

// readStrict reads a request body of at most limit bytes into v the one
// strict way (internal/strict: one JSON value, known fields only, nothing
// after it). A longer body is refused, not cut.
func readStrict(body io.Reader, limit int64, v any) error {
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return err
	}
	if int64(len(b)) > limit {
		return fmt.Errorf("the body is over %d bytes", limit)
	}
	return strict.JSON(b, v)
}
