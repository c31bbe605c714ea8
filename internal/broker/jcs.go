package broker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// canonicalJSON re-encodes a JSON value per RFC 8785 (JCS) for the values
// the KBS protocol binds (objects, strings, booleans, null, integers):
// members sorted by name, no white space, strings escaped only where JCS
// requires. Non-integer numbers are refused rather than formatted.
func canonicalJSON(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := jcs(&buf, x); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func jcs(buf *bytes.Buffer, x any) error {
	switch v := x.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		if v {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case json.Number:
		if _, err := v.Int64(); err != nil {
			return fmt.Errorf("canonical json: number %s is not an integer", v)
		}
		buf.WriteString(v.String())
	case string:
		jcsString(buf, v)
	case []any:
		buf.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := jcs(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case map[string]any:
		// JCS sorts by UTF-16 code units; for the ASCII member names of the
		// protocol this is byte order.
		buf.WriteByte('{')
		for i, k := range sortedKeys(v) {
			if i > 0 {
				buf.WriteByte(',')
			}
			jcsString(buf, k)
			buf.WriteByte(':')
			if err := jcs(buf, v[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return errors.New("canonical json: unexpected value")
	}
	return nil
}

func jcsString(buf *bytes.Buffer, s string) {
	buf.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			buf.WriteString(`\"`)
		case '\\':
			buf.WriteString(`\\`)
		case '\b':
			buf.WriteString(`\b`)
		case '\f':
			buf.WriteString(`\f`)
		case '\n':
			buf.WriteString(`\n`)
		case '\r':
			buf.WriteString(`\r`)
		case '\t':
			buf.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(buf, `\u%04x`, r)
			} else {
				buf.WriteRune(r)
			}
		}
	}
	buf.WriteByte('"')
}
