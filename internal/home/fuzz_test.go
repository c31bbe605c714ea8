package home

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"
)

const validConfig = `# Digital Embassy home configuration. See 'embassy help config'.
home: h0123456789abcdef0123
description: population register
compression: max
pack-size-mib: 32
sites:
  - name: lu-1
    url: /srv/embassy-lu
    jurisdiction: LU
    operator: Luxembourg data embassy
    location: 49.6,6.1
    tier: 1
  - name: ee
    url: s3://10.0.0.5:9000/embassy
    jurisdiction: EE
`

func FuzzParse(f *testing.F) {
	f.Add(validConfig)
	f.Add("")
	f.Add("home: h1\nsites: []\n")
	f.Add("compression: fast\n")
	f.Add("pack-size-mib: -1\n")
	f.Add("sites:\n  - name: a\n    url: x\n    jurisdiction: lu\n")
	f.Add("sites:\n  - {name: a, url: x, jurisdiction: LU}\n  - {name: a, url: y, jurisdiction: LU}\n")
	f.Add("unknown: 1\n")
	f.Add("a: &a [*a]\n")
	f.Add("home: [1, 2\n")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(strings.NewReader(s))
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted an invalid configuration: %v", err)
		}
		// What Save would write parses back to the same configuration.
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(c); err != nil {
			t.Fatalf("accepted configuration does not encode: %v", err)
		}
		c2, err := Parse(&buf)
		if err != nil {
			t.Fatalf("re-encoded configuration does not parse: %v\n%s", err, buf.String())
		}
		if d := cmp.Diff(c, c2, cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("round trip differs:\n%s", d)
		}
	})
}
