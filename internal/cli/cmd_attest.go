package cli

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/attest"
	"github.com/digital-embassy/embassy/internal/hint"
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
	var tee, evidence, certs, nonceHex, cache, at, reference string
	var with, revoke []string
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
			ev, err := attestEvidence(e.stdin, tee, evidence, certs)
			if err != nil {
				return err
			}
			for _, w := range with {
				p, err := attestPart(e.stdin, w)
				if err != nil {
					return err
				}
				ev.Parts = append(ev.Parts, p)
			}
			opts := attest.Options{}
			if nonceHex != "" {
				if opts.Nonce, err = hex.DecodeString(strings.TrimPrefix(nonceHex, "0x")); err != nil || len(opts.Nonce) == 0 {
					return usagef("--nonce %q is not hex", nonceHex)
				}
			}
			opts.Now = e.now() // certificates and collateral are checked at the vault's clock
			if at != "" {
				if opts.Now, err = time.Parse(time.RFC3339, at); err != nil {
					return usagef("--at %q: use an RFC 3339 time such as 2025-06-01T00:00:00Z", at)
				}
			}
			if cache != "" {
				if st, err := os.Stat(cache); err != nil || !st.IsDir() {
					return usagef("--cache %q is not a directory", cache)
				}
				opts.Cache = attest.DirCache(cache)
			}
			if len(revoke) > 0 {
				opts.Roots = attest.DefaultRoots()
				opts.Roots.Revoke(revoke...)
			}
			var ref map[string]string
			if reference != "" {
				b, err := os.ReadFile(reference)
				if err != nil {
					return err
				}
				if err := json.Unmarshal(b, &ref); err != nil {
					return hint.Wrap(fmt.Errorf("--reference %s: %w", reference, err), `write a JSON object such as {"pcr7": "<hex>"}`)
				}
			}
			claims, err := attest.Verify(ev, opts)
			if err == nil && ref != nil {
				err = attest.Compare(claims, ref)
			}
			if err != nil {
				return hint.WithCode(hint.Wrap(err, "nothing would be released for this evidence; collect fresh evidence, or check --certs, --cache and --nonce"), hint.CodeDamaged)
			}
			if e.json {
				return e.emitJSON(claims)
			}
			printClaims(e.stdout, claims, "")
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&tee, "tee", "", "evidence type: "+teeList())
	f.StringVar(&evidence, "evidence", "", "evidence file (- for stdin)")
	f.StringVar(&certs, "certs", "", "certificate chain file (PEM or DER)")
	f.StringVar(&nonceHex, "nonce", "", "expected nonce, hex")
	f.StringArrayVar(&with, "with", nil, "composite part TEE=FILE[,CERTS] (repeatable)")
	f.StringVar(&cache, "cache", "", "offline VCEK / collateral cache directory")
	f.StringVar(&reference, "reference", "", "reference measurements JSON file")
	f.StringArrayVar(&revoke, "revoke", nil, "revoked certificate serial or sha256:fingerprint (repeatable)")
	f.StringVar(&at, "at", "", "verify as of this RFC 3339 time")
	return c
}

func teeList() string {
	var s []string
	for _, t := range attest.TEEs {
		s = append(s, string(t))
	}
	return strings.Join(s, ", ")
}

func knownTEE(t string) bool {
	for _, k := range attest.TEEs {
		if string(k) == t {
			return true
		}
	}
	return false
}

func attestEvidence(stdin io.Reader, tee, file, certs string) (attest.Evidence, error) {
	if tee == "" || file == "" {
		return attest.Evidence{}, usagef("give --tee and --evidence")
	}
	if !knownTEE(tee) {
		return attest.Evidence{}, usagef("--tee %q: use one of %s", tee, teeList())
	}
	ev := attest.Evidence{TEE: attest.TEE(tee)}
	var err error
	if file == "-" {
		ev.Raw, err = io.ReadAll(io.LimitReader(stdin, 16<<20))
	} else {
		ev.Raw, err = os.ReadFile(file)
	}
	if err != nil {
		return ev, hint.Wrap(fmt.Errorf("read evidence: %w", err), "check the --evidence path")
	}
	if certs != "" {
		if ev.Certs, err = os.ReadFile(certs); err != nil {
			return ev, hint.Wrap(fmt.Errorf("read certificates: %w", err), "check the --certs path")
		}
	}
	return ev, nil
}

func attestPart(stdin io.Reader, spec string) (attest.Evidence, error) {
	tee, rest, ok := strings.Cut(spec, "=")
	if !ok || rest == "" {
		return attest.Evidence{}, usagef("--with %q: use TEE=FILE[,CERTS]", spec)
	}
	file, certs, _ := strings.Cut(rest, ",")
	if file == "-" {
		return attest.Evidence{}, usagef("--with %q: a part cannot be read from stdin", spec)
	}
	return attestEvidence(stdin, tee, file, certs)
}

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
