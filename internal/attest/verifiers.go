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
