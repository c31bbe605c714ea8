package cli

import (
	"fmt"
	"strings"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/vault"
)

// verifyProof challenges daemon sites to prove they hold a sample of every
// kind of object, without downloading them.
func (e *env) verifyProof(h *home.Home, names []string, sample int) error {
	if len(names) == 0 {
		return usagef("--proof needs --site NAME (an embassy:// daemon site)")
	}
	if sample < 1 {
		return usagef("--sample %d: want at least 1", sample)
	}
	reps, err := e.vaultOf(h).ProveStorage(e.ctx, vault.ProofRequest{Sites: names, Sample: sample, Observe: e.observeProof})
	if err != nil {
		return err
	}
	damaged := 0
	for _, rep := range reps {
		damaged += len(rep.Damage)
	}
	if e.json {
		if err := e.emitJSON(reps); err != nil {
			return err
		}
	} else {
		for _, rep := range reps {
			e.printf("proof of storage at %s: %d of %d sampled objects proved (%d chunks checked; the home expects %d objects)\n", rep.Site, rep.Proved, rep.Objects, rep.Chunks, rep.Expected)
			for _, d := range rep.Damage {
				fmt.Fprintf(e.stdout, "DAMAGED site=%s object=%s: %s\n", d.Site, d.Object, d.Problem)
			}
		}
	}
	if damaged > 0 {
		return hint.WithCode(hint.Wrap(vault.ProblemsFound(damaged), proofRepairHint(reps)), hint.CodeDamaged)
	}
	e.printf("no damage found\n")
	return nil
}

// proofRepairHint names the repair that fixes what the proofs found: a
// proof reads content, so plain repair (presence and size) is not enough.
func proofRepairHint(reps []*vault.ProofReport) string {
	var args []string
	for _, rep := range reps {
		if len(rep.Damage) > 0 {
			args = append(args, "--site "+rep.Site)
		}
	}
	return "the site does not hold what it was given; run 'embassy repair " + strings.Join(args, " ") +
		" --read-data' to re-copy from another site, and ask the host (see 'embassy disclosures')"
}
