package supply

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/strict"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

func testBinary() Binary {
	return Binary{Name: "embassyd", Digest: strings.Repeat("ab", 32), Size: 52 << 20, Info: &debug.BuildInfo{
		GoVersion: "go1.26.0", Path: "github.com/digital-embassy/embassy/cmd/embassyd",
		Main: debug.Module{Path: "github.com/digital-embassy/embassy", Version: "v1.4.2"},
		Deps: []*debug.Module{
			{Path: "golang.org/x/crypto", Version: "v0.45.0", Sum: "h1:jMBrvKuj23MTlT0bQEOBcAE0mjg8mK9RXFhRH6nyF3Q="},
			{Path: "github.com/cedar-policy/cedar-go", Version: "v1.2.0", Sum: "h1:AAAA", Replace: &debug.Module{Path: "github.com/fork/cedar-go", Version: "v1.2.1", Sum: "h1:BBBB"}},
		},
		Settings: []debug.BuildSetting{{Key: "-trimpath", Value: "true"}, {Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "GOARCH", Value: "amd64"}},
	}}
}

// schemaDir finds the CycloneDX JSON schemas shipped in the cyclonedx-go
// module (the same version go.mod pins), so the test validates against
// the specification's own schema without copying it.
func schemaDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/CycloneDX/cyclonedx-go").Output()
	if err != nil {
		t.Fatalf("locate the cyclonedx-go module (its schemas): %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "schema")
}

// The CycloneDX output validates against the CycloneDX 1.6 JSON schema and
// records what the requirement asks: the binary's digest, every module
// with its version and go.sum hash, the Go version and build settings.
func TestSBOMCycloneDXSchema(t *testing.T) {
	created := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	b, err := SBOM(testBinary(), FormatCycloneDX, created)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	dir := schemaDir(t)
	// The schema refers to its neighbours by their http://cyclonedx.org
	// ids; the module ships them under these names.
	for id, file := range map[string]string{"spdx.schema.json": "spdx.schema.json", "jsf-0.82.schema.json": "jsf-0.82.schemax.json"} {
		raw, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource("http://cyclonedx.org/schema/"+id, doc); err != nil {
			t.Fatal(err)
		}
	}
	sch, err := c.Compile(filepath.Join(dir, "bom-1.6.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(doc); err != nil {
		t.Fatalf("CycloneDX output does not validate against bom-1.6.schema.json: %v\n%s", err, b)
	}
	var bom struct {
		SpecVersion string `json:"specVersion"`
		Serial      string `json:"serialNumber"`
		Metadata    struct {
			Timestamp string `json:"timestamp"`
			Component struct {
				Name   string                          `json:"name"`
				Hashes []struct{ Alg, Content string } `json:"hashes"`
				Props  []struct{ Name, Value string }  `json:"properties"`
			} `json:"component"`
		} `json:"metadata"`
		Components []struct {
			Name, Version, Purl string
			Props               []struct{ Name, Value string } `json:"properties"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &bom); err != nil {
		t.Fatal(err)
	}
	mc := bom.Metadata.Component
	if bom.SpecVersion != "1.6" || mc.Name != "embassyd" || len(mc.Hashes) != 1 || mc.Hashes[0].Content != strings.Repeat("ab", 32) {
		t.Fatalf("metadata: %+v (spec %s)", mc, bom.SpecVersion)
	}
	props := map[string]string{}
	for _, p := range mc.Props {
		props[p.Name] = p.Value
	}
	if props["embassy:go.version"] != "go1.26.0" || props["embassy:go.build.vcs.revision"] != "0123456789abcdef" || props["embassy:go.build.-trimpath"] != "true" {
		t.Errorf("build properties: %v", props)
	}
	if len(bom.Components) != 2 {
		t.Fatalf("%d components, want 2", len(bom.Components))
	}
	// Sorted by path; the replacement is what was built, the original noted.
	fork, xc := bom.Components[0], bom.Components[1]
	if fork.Name != "github.com/fork/cedar-go" || fork.Version != "v1.2.1" || fork.Purl != "pkg:golang/github.com/fork/cedar-go@v1.2.1" {
		t.Errorf("replaced module: %+v", fork)
	}
	if xc.Name != "golang.org/x/crypto" || len(xc.Props) != 1 || xc.Props[0].Value != "h1:jMBrvKuj23MTlT0bQEOBcAE0mjg8mK9RXFhRH6nyF3Q=" {
		t.Errorf("module with go.sum hash: %+v", xc)
	}
	again, _ := SBOM(testBinary(), FormatCycloneDX, created)
	if !bytes.Equal(b, again) {
		t.Error("the same binary and time give two different SBOMs")
	}
}

// The SPDX output has the members SPDX 2.3 requires, and every
// relationship names a package of the document.
func TestSBOMSPDX(t *testing.T) {
	b, err := SBOM(testBinary(), FormatSPDX, time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var doc spdxDoc
	if err := strict.JSON(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.SPDXVersion != "SPDX-2.3" || doc.DataLicense != "CC0-1.0" || doc.SPDXID != "SPDXRef-DOCUMENT" ||
		!strings.HasPrefix(doc.DocumentNamespace, "urn:uuid:") || doc.CreationInfo.Created != "2026-12-02T06:00:00Z" || len(doc.CreationInfo.Creators) == 0 {
		t.Fatalf("document header: %+v", doc)
	}
	ids := map[string]bool{"SPDXRef-DOCUMENT": true}
	for _, p := range doc.Packages {
		if p.Name == "" || p.DownloadLocation == "" || ids[p.SPDXID] {
			t.Errorf("package %+v: name, downloadLocation and a unique SPDXID are required", p)
		}
		ids[p.SPDXID] = true
	}
	if len(doc.Packages) != 3 || doc.Packages[0].Checksums[0].Value != strings.Repeat("ab", 32) {
		t.Fatalf("packages: %+v", doc.Packages)
	}
	describes := 0
	for _, r := range doc.Relationships {
		if !ids[r.Element] || !ids[r.Related] {
			t.Errorf("relationship %+v names an element that is not in the document", r)
		}
		if r.Type == "DESCRIBES" {
			describes++
		}
	}
	if describes != 1 || len(doc.Relationships) != 3 {
		t.Errorf("relationships: %+v", doc.Relationships)
	}
}

func TestSBOMRefusesWithoutBuildInfo(t *testing.T) {
	b := testBinary()
	b.Info = nil
	if _, err := SBOM(b, FormatCycloneDX, time.Now()); err == nil || !strings.Contains(err.Error(), "no Go build information") {
		t.Fatalf("got %v", err)
	}
	if _, err := SBOM(testBinary(), "swid", time.Now()); err == nil || !strings.Contains(err.Error(), "use cyclonedx or spdx") {
		t.Fatalf("unknown format: %v", err)
	}
}

func TestParseVersion(t *testing.T) {
	v := NewVersion("embassyd", strings.Repeat("cd", 32), 100, testBinary().Info, time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC))
	b, _ := json.Marshal(v)
	got, err := ParseVersion(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != v.Digest || got.Main != "github.com/digital-embassy/embassy@v1.4.2" || got.Deps != 2 || got.Settings["GOARCH"] != "amd64" {
		t.Fatalf("round trip: %+v", got)
	}
	for _, tc := range []struct{ name, in, want string }{
		{"bad digest", strings.Replace(string(b), v.Digest, "zz", 1), "digest"},
		{"other format", strings.Replace(string(b), VersionFormat, "x", 1), "format"},
		{"unknown field", strings.Replace(string(b), `"size"`, `"x":1,"size"`, 1), "unknown field"},
		{"control characters", strings.Replace(string(b), "go1.26.0", `go1\u0000`, 1), "printable"},
		{"trailing", string(b) + "{}", "trailing"},
	} {
		if _, err := ParseVersion([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

// SBOMSubject finds the digest of the binary an SBOM describes, in both formats.
func TestSBOMSubject(t *testing.T) {
	for _, f := range []string{FormatCycloneDX, FormatSPDX} {
		b, err := SBOM(testBinary(), f, time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		d, err := SBOMSubject(b)
		if err != nil || d != strings.Repeat("ab", 32) {
			t.Errorf("%s: subject %q, %v", f, d, err)
		}
	}
	for _, in := range []string{`{"bomFormat":"CycloneDX"}`, `{"spdxVersion":"SPDX-2.3","packages":[{"SPDXID":"x"}]}`, `[]`, `{"bomFormat":"CycloneDX","metadata":{"component":{"hashes":[{"alg":"MD5","content":"00"}]}}}`} {
		if _, err := SBOMSubject([]byte(in)); err == nil {
			t.Errorf("%s: no error", in)
		}
	}
}
