package agreement

import (
	"encoding/json"
	"strings"
)

// JSONSchema returns the JSON Schema (draft 2020-12) of the agreement
// format, generated from Terms; docs/agreement.schema.json is this output.
// It checks shape and types; signatures, the baseline and consistency are
// checked by Parse, Verify and CheckBaseline.
func JSONSchema() []byte {
	obj := func() map[string]any {
		return map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{}}
	}
	party := map[string]any{"type": "object", "additionalProperties": false, "required": []string{"state", "name", "key"},
		"properties": map[string]any{
			"state": map[string]any{"type": "string", "pattern": "^[A-Z]{2}$", "description": "ISO 3166-1 alpha-2"},
			"name":  map[string]any{"type": "string"},
			"key":   map[string]any{"type": "string", "pattern": "^ed25519:[A-Za-z0-9+/]{43}=$", "description": "Ed25519 public key from 'embassy agreement keygen'"},
		}}
	sig := map[string]any{"type": "string", "contentEncoding": "base64", "description": "Ed25519 signature over the signing bytes (docs/AGREEMENT.md)"}
	root := obj()
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = "https://github.com/digital-embassy/embassy/docs/agreement.schema.json"
	root["title"] = "Digital Embassy agreement, " + Format
	root["required"] = []string{"format", "id", "parties"}
	props := root["properties"].(map[string]any)
	props["format"] = map[string]any{"const": Format}
	props["id"] = map[string]any{"type": "string", "pattern": idRE().String()}
	props["title"] = map[string]any{"type": "string"}
	props["parties"] = map[string]any{"type": "object", "additionalProperties": false, "required": []string{Sending, Host},
		"properties": map[string]any{Sending: party, Host: party}}
	props["signatures"] = map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{Sending: sig, Host: sig}}
	props["overrides"] = map[string]any{"type": "array", "items": map[string]any{"type": "object", "additionalProperties": false,
		"required": []string{"term", "reason", "signature"}, "properties": map[string]any{
			"term": map[string]any{"type": "string"}, "reason": map[string]any{"type": "string", "minLength": 1}, "signature": sig}}}
	for _, t := range Terms {
		parts := strings.Split(t.Path, ".")
		m := root
		for i, p := range parts[:len(parts)-1] {
			_ = i
			ps := m["properties"].(map[string]any)
			if ps[p] == nil {
				ps[p] = obj()
			}
			m = ps[p].(map[string]any)
			if t.Required {
				req, _ := m["required"].([]string)
				m["required"] = appendOnce(req, parts[i+1])
			}
		}
		if t.Required && len(parts) > 1 {
			req, _ := root["required"].([]string)
			root["required"] = appendOnce(req, parts[0])
		}
		s := map[string]any{"description": t.Doc + " [" + t.Dimension + "; " + t.Dir.String() + "]"}
		switch t.Kind {
		case String:
			s["type"], s["minLength"] = "string", 1
		case Bool:
			s["type"] = "boolean"
		case Int:
			s["type"], s["minimum"], s["maximum"] = "integer", 0, 1_000_000
		case Enum:
			s["enum"] = t.Enum
		case Date:
			s["type"], s["format"] = "string", "date"
		case Class:
			s["type"], s["pattern"] = "string", "^(public|internal|restricted|secret|[CcIiAa][0-3]-[CcIiAa][0-3]-[CcIiAa][0-3])$"
		case Percent:
			s["type"], s["minimum"], s["maximum"] = "number", 0, 100
		case List:
			s["type"], s["minItems"], s["uniqueItems"] = "array", 1, true
			s["items"] = map[string]any{"type": "string", "pattern": "^[A-Z]{2}$"}
		}
		m["properties"].(map[string]any)[parts[len(parts)-1]] = s
	}
	props["compute"].(map[string]any)["properties"].(map[string]any)["reservations"] = reservationSchema()
	b, _ := json.MarshalIndent(root, "", "  ")
	return append(b, '\n')
}

func appendOnce(l []string, s string) []string {
	for _, x := range l {
		if x == s {
			return l
		}
	}
	return append(l, s)
}
