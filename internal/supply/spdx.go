package supply

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// The SPDX 2.3 JSON document SBOM writes (https://spdx.github.io/spdx-spec/v2.3/):
// one package for the binary (its SHA-256, its purl) DESCRIBED by the
// document, one package per Go module it DEPENDS_ON, build settings in the
// binary package's comment and go.sum hashes in each module's.

type spdxDoc struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreation       `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreation struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	SPDXID           string         `json:"SPDXID"`
	Name             string         `json:"name"`
	VersionInfo      string         `json:"versionInfo,omitempty"`
	DownloadLocation string         `json:"downloadLocation"`
	FilesAnalyzed    bool           `json:"filesAnalyzed"`
	Checksums        []spdxChecksum `json:"checksums,omitempty"`
	ExternalRefs     []spdxRef      `json:"externalRefs,omitempty"`
	PrimaryPurpose   string         `json:"primaryPackagePurpose,omitempty"`
	Comment          string         `json:"comment,omitempty"`
}

type spdxChecksum struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"checksumValue"`
}

type spdxRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

func spdx(b Binary, created time.Time) ([]byte, error) {
	bi := b.Info
	comment := "go " + bi.GoVersion
	for _, s := range bi.Settings {
		comment += "; " + s.Key + "=" + s.Value
	}
	main := spdxPackage{SPDXID: "SPDXRef-Package-main", Name: b.Name, VersionInfo: bi.Main.Version, DownloadLocation: "NOASSERTION",
		Checksums:      []spdxChecksum{{Algorithm: "SHA256", Value: b.Digest}},
		ExternalRefs:   []spdxRef{{Category: "PACKAGE-MANAGER", Type: "purl", Locator: purl(bi.Main.Path, bi.Main.Version)}},
		PrimaryPurpose: "APPLICATION", Comment: comment}
	doc := spdxDoc{SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT", Name: b.Name + "-" + b.Digest[:16],
		DocumentNamespace: "urn:uuid:" + serial(FormatSPDX, b.Digest),
		CreationInfo:      spdxCreation{Created: created.UTC().Format(time.RFC3339), Creators: []string{"Tool: embassy-sbom"}},
		Packages:          []spdxPackage{main},
		Relationships:     []spdxRelationship{{Element: "SPDXRef-DOCUMENT", Type: "DESCRIBES", Related: main.SPDXID}}}
	for i, m := range modules(bi) {
		p := spdxPackage{SPDXID: fmt.Sprintf("SPDXRef-Package-%d", i+1), Name: m.Path, VersionInfo: m.Version, DownloadLocation: "NOASSERTION",
			ExternalRefs: []spdxRef{{Category: "PACKAGE-MANAGER", Type: "purl", Locator: purl(m.Path, m.Version)}}, PrimaryPurpose: "LIBRARY"}
		if m.Sum != "" {
			p.Comment = "go.sum " + m.Sum
		}
		if m.Replaced != "" {
			p.Comment += "; replaces " + m.Replaced
		}
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, spdxRelationship{Element: main.SPDXID, Type: "DEPENDS_ON", Related: p.SPDXID})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
