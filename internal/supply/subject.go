package supply

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// MaxSBOMFile bounds an SBOM file read for an approval.
const MaxSBOMFile = 32 << 20

// SBOMSubject returns the SHA-256 an SBOM records for the binary it
// describes: in CycloneDX, metadata.component's SHA-256 hash; in SPDX, the
// SHA256 checksum of the package the document DESCRIBES. An approval
// records an SBOM only if its subject is the approved digest.
func SBOMSubject(b []byte) (string, error) {
	if len(b) > MaxSBOMFile {
		return "", fmt.Errorf("SBOM is %d bytes: at most %d", len(b), MaxSBOMFile)
	}
	var probe struct {
		BOMFormat   string `json:"bomFormat"`
		SPDXVersion string `json:"spdxVersion"`
		Metadata    *struct {
			Component *struct {
				Hashes []struct {
					Alg     string `json:"alg"`
					Content string `json:"content"`
				} `json:"hashes"`
			} `json:"component"`
		} `json:"metadata"`
		Packages []struct {
			SPDXID    string `json:"SPDXID"`
			Checksums []struct {
				Algorithm string `json:"algorithm"`
				Value     string `json:"checksumValue"`
			} `json:"checksums"`
		} `json:"packages"`
		Relationships []struct {
			Element string `json:"spdxElementId"`
			Type    string `json:"relationshipType"`
			Related string `json:"relatedSpdxElement"`
		} `json:"relationships"`
	}
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&probe); err != nil {
		return "", fmt.Errorf("SBOM: %w", err)
	}
	pick := func(alg, v string) (string, bool) {
		v = strings.ToLower(v)
		return v, (alg == "SHA-256" || alg == "SHA256") && digestRE().MatchString(v)
	}
	switch {
	case probe.BOMFormat == "CycloneDX":
		if probe.Metadata == nil || probe.Metadata.Component == nil {
			return "", errors.New("CycloneDX SBOM: metadata.component (the binary described) is missing")
		}
		for _, h := range probe.Metadata.Component.Hashes {
			if d, ok := pick(h.Alg, h.Content); ok {
				return d, nil
			}
		}
		return "", errors.New("CycloneDX SBOM: metadata.component has no SHA-256 hash")
	case strings.HasPrefix(probe.SPDXVersion, "SPDX-"):
		var subject string
		for _, r := range probe.Relationships {
			if r.Element == "SPDXRef-DOCUMENT" && r.Type == "DESCRIBES" {
				if subject != "" {
					return "", errors.New("SPDX SBOM: the document describes more than one package")
				}
				subject = r.Related
			}
		}
		for _, p := range probe.Packages {
			if p.SPDXID != subject || subject == "" {
				continue
			}
			for _, c := range p.Checksums {
				if d, ok := pick(c.Algorithm, c.Value); ok {
					return d, nil
				}
			}
		}
		return "", errors.New("SPDX SBOM: the package the document describes has no SHA256 checksum")
	}
	return "", errors.New("not a CycloneDX or SPDX JSON SBOM")
}
