package main

import (
	"crypto/x509"

	"github.com/digital-embassy/embassy/internal/pki"
)

func newPool(ca *pki.CA) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}
