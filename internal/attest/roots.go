package attest

import (
	"crypto/x509"
	_ "embed"
	"sync"
)

//go:embed roots/nvidia_device_root.pem
var nvidiaRootPEM []byte

//go:embed roots/intel_sgx_root_ca.pem
var intelRootPEM []byte

var (
	defaultNVIDIA = sync.OnceValue(func() *x509.CertPool { return pool(nvidiaRootPEM) })
	defaultIntel  = sync.OnceValue(func() *x509.CertPool { return pool(intelRootPEM) })
)

func pool(pemBytes []byte) *x509.CertPool {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pemBytes) {
		panic("attest: an embedded root certificate does not parse")
	}
	return p
}

// defaultRoots returns the embedded trust anchors: the NVIDIA device
// identity root, Intel's SGX root CA (see tdx.go); AMD's roots are
// go-sev-guest's embedded bundles. No TPM manufacturer roots are embedded.
func defaultRoots() *Roots {
	return &Roots{NVIDIA: defaultNVIDIA(), Intel: defaultIntel()}
}
