package cli

import (
	"fmt"
	"io"
	"sort"

	"github.com/digital-embassy/embassy/internal/attest"
)

// printClaims prints verified claims: the TEE, its report data and debug
// flag, then measurements, TCB and platform sorted by name, then the parts
// of composite evidence, indented.
func printClaims(w io.Writer, c attest.Claims, indent string) {
	if indent == "" {
		fmt.Fprintf(w, "attestation verified: %s\n", c.TEE)
	} else {
		fmt.Fprintf(w, "%s%s\n", indent, c.TEE)
	}
	in := indent + "  "
	if len(c.ReportData) > 0 {
		fmt.Fprintf(w, "%sreport_data  %x\n", in, c.ReportData)
	}
	if c.TEE != attest.Composite {
		fmt.Fprintf(w, "%sdebug        %v\n", in, c.Debug)
	}
	for _, sec := range []struct {
		name string
		m    map[string]string
	}{{"measurements", c.Measurements}, {"tcb", c.TCB}, {"platform", c.Platform}} {
		if len(sec.m) == 0 || (c.TEE == attest.Composite && sec.name == "measurements") {
			continue
		}
		fmt.Fprintf(w, "%s%s:\n", in, sec.name)
		keys := make([]string, 0, len(sec.m))
		for k := range sec.m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "%s  %-22s %s\n", in, k, sec.m[k])
		}
	}
	for i, p := range c.Parts {
		fmt.Fprintf(w, "%spart %d:\n", in, i)
		printClaims(w, p, in+"  ")
	}
}
