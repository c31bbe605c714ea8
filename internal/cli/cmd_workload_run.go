package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/vault"
	"github.com/digital-embassy/embassy/internal/workload"
)

func cmdWorkloadRun(e *env) *cobra.Command {
	var r vault.WorkloadRun
	var gpuMode string
	c := &cobra.Command{
		Use:   "run --broker URL --dataset NAME --site URL --ca ca.crt [--tee tpm|tpm-sim] [--gpu auto|nvidia|none] -- CMD [ARGS...]",
		Short: "Fetch a dataset's key with fresh evidence, decrypt it to memory, run CMD on it, wipe it",
		Long: `run produces evidence on this machine bound to a broker nonce and to a fresh
X-Wing key pair, asks the broker for the dataset's keys, decrypts the
dataset's latest snapshot from the vault site into a private folder on a
memory file system, runs CMD with ` + workload.EnvDir + ` set to that folder, and
overwrites and removes the plaintext when CMD ends. A refusal exits 3 with
the broker's reason.

With --gpu auto (the default) or nvidia, every NVIDIA GPU in
confidential-computing mode adds its SPDM attestation report, bound to the
same report data, and its certificate chain: the broker then verifies
composite evidence (CPU TEE + GPUs), all of which must pass. --gpu nvidia
fails (exit 1) where the driver library or a CC-mode GPU is missing;
--gpu auto then sends CPU evidence only, with a note on stderr.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if r.Broker == "" || r.Dataset == "" || len(r.Sites) == 0 || r.CA == "" {
				return usagef("--broker, --dataset, --site and --ca are required")
			}
			gpus, err := openGPUs(e, gpuMode)
			if err != nil {
				return err
			}
			if gpus != nil { // a nil *gpu.Collector is not a nil DeviceAttester
				defer gpus.Close()
				r.Devices = gpus
			}
			r.Command, r.Stdout, r.Stderr, r.Logger = args, e.stdout, e.stderr, e.log
			start := time.Now()
			err = vault.RunWorkload(e.ctx, r)
			e.log.DebugContext(e.ctx, "workload run", "took", time.Since(start))
			return err
		},
	}
	addTEEFlags(c, &r.TEE)
	c.Flags().StringVar(&r.Broker, "broker", "", "the broker's URL (https://host:port)")
	c.Flags().StringVar(&r.Dataset, "dataset", "", "the dataset to decrypt")
	c.Flags().StringArrayVar(&r.Sites, "site", nil, "a vault site holding the dataset (directory or URL; repeatable)")
	c.Flags().StringVar(&r.CA, "ca", "", "the home's CA certificate, which signs the broker's")
	c.Flags().StringVar(&gpuMode, "gpu", "auto", "GPU evidence: auto (NVIDIA GPUs in confidential-computing mode when the driver has them, else CPU evidence only, with a note), nvidia (required: fail without them) or none")
	return c
}
