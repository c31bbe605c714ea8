package attest

import (
	"crypto/x509"
	_ "embed"
	"sync"
)

//go:embed roots/nvidia_device_root.pem
var nvidiaRootPEM []byte

var defaultNVIDIA = sync.OnceValue(func() *x509.CertPool {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(nvidiaRootPEM) {
		panic("attest: embedded NVIDIA root does not parse")
	}
	return p
})

// defaultRoots returns the embedded trust anchors: the NVIDIA device
// identity root, Intel's SGX root CA (see tdx.go); AMD's roots are
// go-sev-guest's embedded bundles. No TPM manufacturer roots are embedded.
func defaultRoots() *Roots {
	return &Roots{NVIDIA: defaultNVIDIA(), Intel: defaultIntel()}
}
