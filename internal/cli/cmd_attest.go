package cli

import (
	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

func cmdAttest(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "attest",
		Short: "Verify hardware attestation evidence offline (TPM, SEV-SNP, TDX, NVIDIA GPU, Azure CVM)",
		Long: `Verify attestation evidence the way the key broker does, offline: nothing is
fetched from AMD, Intel or NVIDIA. What each verifier checks and the claims
it prints are described in docs/ATTESTATION.md.`,
	}
	c.AddCommand(cmdAttestVerify(e))
	return c
}

func cmdAttestVerify(e *env) *cobra.Command {
	var r vault.AttestRequest
	c := &cobra.Command{
		Use:   "verify --tee TYPE --evidence FILE",
		Short: "Verify one piece of evidence (or a CPU TEE plus GPUs) and print its claims",
		Long: `Verify one piece of evidence and print the claims it carries.

  --tee        tpm, snp, tdx, nvidia, az-snp-vtpm or az-tdx-vtpm
  --evidence   the report, quote or evidence document ("-" reads stdin)
  --certs      a certificate chain the evidence does not carry: the SNP VCEK
               or VLEK, the NVIDIA device chain (PEM), a TPM AK certificate
  --nonce      hex: the evidence must bind it (report data prefix, quote
               extraData, GPU request nonce)
  --with       TEE=FILE[,CERTS]: another part of a composite request, for
               example --with nvidia=gpu0.txt,gpu0-chain.pem; all must pass
  --cache      a directory of AMD VCEKs and Intel PCS collateral (offline)
  --reference  a JSON object of reference measurements (name -> hex); any
               difference is a refusal
  --revoke     a certificate serial (hex) or sha256:<fingerprint> to refuse
  --at         verify certificates as of this RFC 3339 time (default: now,
               the clock every decision of the vault is made at)

Exit status: 0 verified, 3 refused (the reason is printed), 2 bad flags.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r.Now, r.Stdin = e.now(), e.stdin // certificates and collateral are checked at the vault's clock
			claims, err := vault.VerifyAttestation(r)
			if err != nil {
				return err
			}
			if e.json {
				return e.emitJSON(claims)
			}
			printClaims(e.stdout, claims, "")
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&r.TEE, "tee", "", "evidence type: "+vault.AttestTEEs())
	f.StringVar(&r.Evidence, "evidence", "", "evidence file (- for stdin)")
	f.StringVar(&r.Certs, "certs", "", "certificate chain file (PEM or DER)")
	f.StringVar(&r.Nonce, "nonce", "", "expected nonce, hex")
	f.StringArrayVar(&r.With, "with", nil, "composite part TEE=FILE[,CERTS] (repeatable)")
	f.StringVar(&r.Cache, "cache", "", "offline VCEK / collateral cache directory")
	f.StringVar(&r.Reference, "reference", "", "reference measurements JSON file")
	f.StringArrayVar(&r.Revoke, "revoke", nil, "revoked certificate serial or sha256:fingerprint (repeatable)")
	f.StringVar(&r.At, "at", "", "verify as of this RFC 3339 time")
	return c
}
