package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
)

// cmdWorkload is 'embassy workload': the workload side of the key broker.
// The logic is in internal/vault (workload_run.go) and internal/workload;
// this file parses flags and prints.
func cmdWorkload(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "workload",
		Short: "Run a command on a dataset whose keys a key broker releases to this attested machine",
	}
	c.AddCommand(cmdWorkloadRun(e), cmdWorkloadIdentity(e), cmdWorkloadRefs(e))
	return c
}

// addTEEFlags adds the flags that select the evidence source.
func addTEEFlags(c *cobra.Command, t *vault.WorkloadTEE) {
	c.Flags().StringVar(&t.TEE, "tee", "tpm", "evidence source: tpm (a TPM device) or tpm-sim (the TPM reference simulator, for tests)")
	c.Flags().StringVar(&t.TPM, "tpm", "/dev/tpmrm0", "TPM device (with --tee tpm)")
	c.Flags().Int64Var(&t.SimSeed, "sim-seed", 1, "simulator seed: the same seed gives the same identity (with --tee tpm-sim)")
	c.Flags().StringArrayVar(&t.Measures, "measure", nil, "PCR=FILE: extend the PCR with SHA-256 of FILE before quoting, as a measured launch does (repeatable)")
}

func cmdWorkloadIdentity(e *env) *cobra.Command {
	var t vault.WorkloadTEE
	c := &cobra.Command{
		Use:   "identity [--tee tpm|tpm-sim]",
		Short: "Print this machine's workload identity (the TPM attestation key fingerprint)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := vault.WorkloadIdentity(t)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, id)
			return nil
		},
	}
	addTEEFlags(c, &t)
	return c
}
