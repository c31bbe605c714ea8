package supply

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// Binary is one of our binaries as the SBOM describes it: its file's
// SHA-256 and size, and the build information the Go linker embedded.
type Binary struct {
	Name   string // the artifact name (embassy, embassyd)
	Digest string // lowercase hex SHA-256 of the file
	Size   int64
	Info   *debug.BuildInfo
}

// Formats of SBOM that SBOM writes.
const (
	FormatCycloneDX = "cyclonedx" // CycloneDX 1.6 JSON
	FormatSPDX      = "spdx"      // SPDX 2.3 JSON
)

// Validate checks what an SBOM needs.
func (b *Binary) Validate() error {
	if !artifactRE().MatchString(b.Name) {
		return fmt.Errorf("artifact name %q: use 1-64 lowercase letters, digits, '.', '_' or '-'", b.Name)
	}
	if !digestRE().MatchString(b.Digest) {
		return fmt.Errorf("binary digest %q: want 64 lowercase hex digits (SHA-256)", b.Digest)
	}
	if b.Info == nil || b.Info.Main.Path == "" {
		return errors.New("the binary carries no Go build information (built without module support, or not a Go binary)")
	}
	return nil
}

// module is one dependency as the SBOM lists it (replacements resolved).
type module struct {
	Path, Version, Sum string
	Replaced           string // the original path@version a replace directive stood for
}

func modules(bi *debug.BuildInfo) []module {
	var out []module
	for _, d := range bi.Deps {
		m := module{Path: d.Path, Version: d.Version, Sum: d.Sum}
		if d.Replace != nil {
			m = module{Path: d.Replace.Path, Version: d.Replace.Version, Sum: d.Replace.Sum, Replaced: d.Path + "@" + d.Version}
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b module) int { return strings.Compare(a.Path+"@"+a.Version, b.Path+"@"+b.Version) })
	return out
}

func purl(path, version string) string {
	p := "pkg:golang/" + path
	if version != "" && version != "(devel)" {
		p += "@" + version
	}
	return p
}

// serial is a stable urn:uuid for an SBOM of digest in format (RFC 4122
// version 5 layout over SHA-256), so the same binary yields the same file.
func serial(format, digest string) string {
	s := sha256.Sum256([]byte("embassy.sbom " + format + " " + digest))
	s[6] = s[6]&0x0f | 0x50
	s[8] = s[8]&0x3f | 0x80
	x := hex.EncodeToString(s[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

// SBOM encodes b's bill of materials in format, stamped with created.
// The output is deterministic for a given binary and time.
func SBOM(b Binary, format string, created time.Time) ([]byte, error) {
	if err := b.Validate(); err != nil {
		return nil, err
	}
	switch format {
	case FormatCycloneDX, "":
		return cycloneDX(b, created)
	case FormatSPDX:
		return spdx(b, created)
	}
	return nil, fmt.Errorf("unknown format %q for the SBOM: use cyclonedx or spdx", format)
}

func cycloneDX(b Binary, created time.Time) ([]byte, error) {
	bi := b.Info
	props := []cdx.Property{{Name: "embassy:go.version", Value: bi.GoVersion}, {Name: "embassy:binary.size", Value: fmt.Sprint(b.Size)}}
	for _, s := range bi.Settings {
		props = append(props, cdx.Property{Name: "embassy:go.build." + s.Key, Value: s.Value})
	}
	mainRef := purl(bi.Main.Path, bi.Main.Version)
	main := cdx.Component{
		BOMRef: mainRef, Type: cdx.ComponentTypeApplication, Name: b.Name, Group: bi.Main.Path, Version: bi.Main.Version,
		PackageURL: mainRef, Hashes: &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: b.Digest}},
		Properties: &props,
	}
	var comps []cdx.Component
	var refs []string
	for _, m := range modules(bi) {
		ref := purl(m.Path, m.Version)
		c := cdx.Component{BOMRef: ref, Type: cdx.ComponentTypeLibrary, Name: m.Path, Version: m.Version, PackageURL: ref,
			Scope: cdx.ScopeRequired}
		var p []cdx.Property
		if m.Sum != "" {
			p = append(p, cdx.Property{Name: "embassy:go.sum", Value: m.Sum})
		}
		if m.Replaced != "" {
			p = append(p, cdx.Property{Name: "embassy:go.replaces", Value: m.Replaced})
		}
		if len(p) > 0 {
			c.Properties = &p
		}
		comps = append(comps, c)
		refs = append(refs, ref)
	}
	deps := []cdx.Dependency{{Ref: mainRef, Dependencies: &refs}}
	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:" + serial(FormatCycloneDX, b.Digest)
	bom.Metadata = &cdx.Metadata{
		Timestamp: created.UTC().Format(time.RFC3339),
		Tools:     &cdx.ToolsChoice{Components: &[]cdx.Component{{Type: cdx.ComponentTypeApplication, Name: "embassy sbom", Group: "digital-embassy"}}},
		Component: &main,
	}
	bom.Components = &comps
	bom.Dependencies = &deps
	var buf bytes.Buffer
	enc := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON)
	enc.SetPretty(true).SetEscapeHTML(false)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
		return nil, fmt.Errorf("encode CycloneDX: %w", err)
	}
	return buf.Bytes(), nil
}

// SBOMDigest is the digest an approval records for an SBOM file: lowercase
// hex SHA-256 of its bytes.
func SBOMDigest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
