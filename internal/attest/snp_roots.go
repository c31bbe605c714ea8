package attest

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/google/go-sev-guest/verify/trust"
)

type verifyRoots = trust.AMDRootCerts

func newAMDRoots(productLine string) *trust.AMDRootCerts {
	r := trust.AMDRootCertsProduct(productLine)
	r.ProductLine = productLine
	return r
}

// amdDefaultRoots are go-sev-guest's embedded AMD bundles (ASK/ARK for
// VCEKs and ASVK/ARK for VLEKs) per product line. go-sev-guest's own
// default covers only the VCEK bundles, so VLEK reports need these.
var amdDefaultRoots = sync.OnceValues(func() (map[string][]*trust.AMDRootCerts, error) {
	bundles := map[string][][]byte{
		"Milan": {trust.AskArkMilanVcekBytes, trust.AskArkMilanVlekBytes},
		"Genoa": {trust.AskArkGenoaVcekBytes, trust.AskArkGenoaVlekBytes},
		"Turin": {trust.AskArkTurinVcekBytes, trust.AskArkTurinVlekBytes},
	}
	out := map[string][]*trust.AMDRootCerts{}
	for pl, bs := range bundles {
		for _, b := range bs {
			r := newAMDRoots(pl)
			if err := r.FromKDSCertBytes(bytes.TrimSpace(b)); err != nil {
				return nil, fmt.Errorf("embedded %s bundle: %w", pl, err)
			}
			out[pl] = append(out[pl], r)
		}
	}
	return out, nil
})
