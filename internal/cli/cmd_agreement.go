package cli

import (
	"github.com/spf13/cobra"
)

func cmdAgreement(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "agreement",
		Short: "Write, sign, verify and install host-state agreements",
		Long: `An agreement is the machine-readable form of the treaty or arrangement under
which a host state keeps the sending state's data: parties and their signing
keys, hub type, legal basis and immunities, permitted classes and residency,
technical and operational obligations, exit terms, and the term of the
agreement. It is a YAML document specified in docs/AGREEMENT.md (JSON Schema:
docs/agreement.schema.json).

Every agreement inherits the product's baseline (the five trust dimensions
of the WEF/Bain framework) and may only tighten it. Both parties sign it with
Ed25519; an unsigned or altered agreement is refused. A term looser than the
baseline needs an override signed by the sending state.

Typical flow: each party runs 'agreement keygen', the text is negotiated,
each party runs 'agreement sign', the sending state runs 'agreement verify'
and 'agreement add', and names the agreement on its sites
('site add ... --agreement ID').`,
	}
	c.AddCommand(cmdAgreementKeygen(e), cmdAgreementSign(e), cmdAgreementVerify(e), cmdAgreementShow(e),
		cmdAgreementAdd(e), cmdAgreementList(e), cmdAgreementBaseline(e))
	return c
}
