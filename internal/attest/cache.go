package attest

import (
	"encoding/hex"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
)

// DirCache is a CertCache over a directory: the entry for key is the file
// named url.QueryEscape(key). Operators fill it with the AMD VCEKs and Intel
// PCS collateral their platforms need (see docs/ATTESTATION.md); entries
// are verified like any other certificate, so a tampered file is refused,
// not trusted.
type DirCache string

// Get implements CertCache.
func (d DirCache) Get(key string) ([]byte, bool) {
	b, err := os.ReadFile(filepath.Join(string(d), CacheFileName(key)))
	if err != nil || len(b) == 0 {
		return nil, false
	}
	return b, true
}

// CacheFileName is the file name DirCache uses for key.
func CacheFileName(key string) string { return url.QueryEscape(key) }

type claimsJSON struct {
	TEE          TEE               `json:"tee"`
	Measurements map[string]string `json:"measurements,omitempty"`
	ReportData   string            `json:"report_data,omitempty"`
	Debug        bool              `json:"debug"`
	TCB          map[string]string `json:"tcb,omitempty"`
	Platform     map[string]string `json:"platform,omitempty"`
	Parts        []Claims          `json:"parts,omitempty"`
}

// MarshalJSON encodes claims with the report data in hex, like the
// measurements.
func (c Claims) MarshalJSON() ([]byte, error) {
	return json.Marshal(claimsJSON{c.TEE, c.Measurements, hex.EncodeToString(c.ReportData), c.Debug, c.TCB, c.Platform, c.Parts})
}

// UnmarshalJSON decodes what MarshalJSON encodes.
func (c *Claims) UnmarshalJSON(b []byte) error {
	var j claimsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	rd, err := hex.DecodeString(j.ReportData)
	if err != nil {
		return err
	}
	*c = Claims{TEE: j.TEE, Measurements: j.Measurements, ReportData: rd, Debug: j.Debug, TCB: j.TCB, Platform: j.Platform, Parts: j.Parts}
	if len(rd) == 0 {
		c.ReportData = nil
	}
	return nil
}
