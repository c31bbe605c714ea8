package attest

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
func verifyAzSNP(ev Evidence, opts Options) (Claims, error) {
	return Claims{}, Refusef("az-snp-vtpm: verifier not built yet")
}
func verifyAzTDX(ev Evidence, opts Options) (Claims, error) {
	return Claims{}, Refusef("az-tdx-vtpm: verifier not built yet")
}
