package attest

import "crypto/x509"

// registry maps each TEE to its verifier. Each verifier lives in its own file.
var registry = map[TEE]Verifier{
	TPM:       VerifierFunc(verifyTPM),
	SNP:       VerifierFunc(verifySNP),
	TDX:       VerifierFunc(verifyTDX),
	NVIDIA:    VerifierFunc(verifyNVIDIA),
	AzSNPvTPM: VerifierFunc(verifyAzSNP),
	AzTDXvTPM: VerifierFunc(verifyAzTDX),
}

// Stubs until each verifier lands; every one refuses.
func verifyTDX(ev Evidence, opts Options) (Claims, error) {
	return Claims{}, Refusef("tdx: verifier not built yet")
}
func verifyAzSNP(ev Evidence, opts Options) (Claims, error) {
	return Claims{}, Refusef("az-snp-vtpm: verifier not built yet")
}
func verifyAzTDX(ev Evidence, opts Options) (Claims, error) {
	return Claims{}, Refusef("az-tdx-vtpm: verifier not built yet")
}

func defaultIntel() *x509.CertPool { return nil }
