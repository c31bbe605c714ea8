package attest

import "encoding/json"

// Envelope carries one piece of evidence with the certificates it needs,
// and composite parts, as a single JSON document, for transports that
// move evidence as one byte string (the broker's request body):
//
//	{"tee": "snp", "evidence": "<base64>", "certs": "<base64>",
//	 "parts": [{"tee": "nvidia", "evidence": "…", "certs": "…"}]}
type Envelope struct {
	TEE      TEE        `json:"tee"`
	Evidence []byte     `json:"evidence"`
	Certs    []byte     `json:"certs,omitempty"`
	Parts    []Envelope `json:"parts,omitempty"`
}

// ParseEnvelope decodes an Envelope into Evidence. It checks only the shape
// (at most 16 parts, no nested composites); Verify checks the rest.
func ParseEnvelope(b []byte) (Evidence, error) {
	if len(b) > 4*maxEvidence {
		return Evidence{}, Refusef("evidence envelope of %d bytes exceeds the limit", len(b))
	}
	var e Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return Evidence{}, Refusef("evidence envelope does not decode: %v", err)
	}
	if len(e.Parts) > 16 {
		return Evidence{}, Refusef("evidence envelope has %d parts, at most 16", len(e.Parts))
	}
	ev := Evidence{TEE: e.TEE, Raw: e.Evidence, Certs: e.Certs}
	for i, p := range e.Parts {
		if len(p.Parts) > 0 {
			return Evidence{}, Refusef("evidence envelope part %d is itself composite", i)
		}
		ev.Parts = append(ev.Parts, Evidence{TEE: p.TEE, Raw: p.Evidence, Certs: p.Certs})
	}
	return ev, nil
}

// MarshalEnvelope encodes ev as an Envelope document.
func MarshalEnvelope(ev Evidence) ([]byte, error) {
	e := Envelope{TEE: ev.TEE, Evidence: ev.Raw, Certs: ev.Certs}
	for _, p := range ev.Parts {
		e.Parts = append(e.Parts, Envelope{TEE: p.TEE, Evidence: p.Raw, Certs: p.Certs})
	}
	return json.Marshal(e)
}
