package cli

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/broker/tpmquote"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/vault"
	"github.com/digital-embassy/embassy/internal/workload"
)

// cmdWorkload is 'embassy workload': the workload side of the key broker.
// The logic is in internal/workload; this file parses flags and prints.
func cmdWorkload(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "workload",
		Short: "Run a command on a dataset whose keys a key broker releases to this attested machine",
	}
	c.AddCommand(cmdWorkloadRun(e), cmdWorkloadIdentity(e), cmdWorkloadRefs(e))
	return c
}

// teeFlags select the evidence source.
type teeFlags struct {
	tee      string
	tpmPath  string
	simSeed  int64
	measures []string
}

func (t *teeFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&t.tee, "tee", "tpm", "evidence source: tpm (a TPM device) or tpm-sim (the TPM reference simulator, for tests)")
	c.Flags().StringVar(&t.tpmPath, "tpm", "/dev/tpmrm0", "TPM device (with --tee tpm)")
	c.Flags().Int64Var(&t.simSeed, "sim-seed", 1, "simulator seed: the same seed gives the same identity (with --tee tpm-sim)")
	c.Flags().StringArrayVar(&t.measures, "measure", nil, "PCR=FILE: extend the PCR with SHA-256 of FILE before quoting, as a measured launch does (repeatable)")
}

func (t *teeFlags) open() (*tpmquote.Attester, error) {
	var a *tpmquote.Attester
	var err error
	switch t.tee {
	case "tpm":
		a, err = tpmquote.Open(t.tpmPath)
	case "tpm-sim":
		a, err = tpmquote.OpenSimulator(t.simSeed)
	default:
		return nil, usagef("--tee %q: use tpm or tpm-sim", t.tee)
	}
	if err != nil {
		return nil, hint.Wrap(err, "use --tee tpm-sim on a machine without a TPM (tests only)")
	}
	for _, m := range t.measures {
		p, file, ok := strings.Cut(m, "=")
		n, perr := strconv.Atoi(p)
		if !ok || perr != nil {
			a.Close()
			return nil, usagef("--measure %q: use PCR=FILE, e.g. 9=model-runner.py", m)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			a.Close()
			return nil, err
		}
		if err := a.Measure(n, b); err != nil {
			a.Close()
			return nil, err
		}
	}
	return a, nil
}

func cmdWorkloadRun(e *env) *cobra.Command {
	var t teeFlags
	var url, dataset, caFile, gpuMode string
	var sites []string
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
			if url == "" || dataset == "" || len(sites) == 0 || caFile == "" {
				return usagef("--broker, --dataset, --site and --ca are required")
			}
			gpus, err := openGPUs(e, gpuMode)
			if err != nil {
				return err
			}
			if gpus != nil {
				defer gpus.Close()
			}
			caCert, err := pki.LoadCert(caFile)
			if err != nil {
				return hint.WithCode(err, hint.CodeUsage)
			}
			pool := x509.NewCertPool()
			pool.AddCert(caCert)
			a, err := t.open()
			if err != nil {
				return err
			}
			defer a.Close()
			rs, closeSites, err := vault.OpenURLSites(e.ctx, sites, e.log)
			if err != nil {
				return err
			}
			defer closeSites()
			cl := workload.NewClient(strings.TrimSuffix(url, "/"), t.tee, "",
				&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, CurvePreferences: pki.CurvePreferences})
			if gpus != nil {
				cl.Devices = gpus
			}
			if err := cl.LoadInfo(e.ctx); err != nil {
				return err
			}
			start := time.Now()
			err = workload.Run(e.ctx, workload.RunOptions{Client: cl, Attester: a, Dataset: dataset, Sites: rs,
				Command: args, Stdout: e.stdout, Stderr: e.stderr, Logger: e.log})
			e.log.DebugContext(e.ctx, "workload run", "took", time.Since(start))
			return err
		},
	}
	t.add(c)
	c.Flags().StringVar(&url, "broker", "", "the broker's URL (https://host:port)")
	c.Flags().StringVar(&dataset, "dataset", "", "the dataset to decrypt")
	c.Flags().StringArrayVar(&sites, "site", nil, "a vault site holding the dataset (directory or URL; repeatable)")
	c.Flags().StringVar(&caFile, "ca", "", "the home's CA certificate, which signs the broker's")
	c.Flags().StringVar(&gpuMode, "gpu", "auto", "GPU evidence: auto (NVIDIA GPUs in confidential-computing mode when the driver has them, else CPU evidence only, with a note), nvidia (required: fail without them) or none")
	return c
}

func cmdWorkloadIdentity(e *env) *cobra.Command {
	var t teeFlags
	c := &cobra.Command{
		Use:   "identity [--tee tpm|tpm-sim]",
		Short: "Print this machine's workload identity (the TPM attestation key fingerprint)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := t.open()
			if err != nil {
				return err
			}
			defer a.Close()
			fmt.Fprintln(e.stdout, a.Identity())
			return nil
		},
	}
	t.add(c)
	return c
}

func cmdWorkloadRefs(e *env) *cobra.Command {
	var t teeFlags
	var name, desc string
	c := &cobra.Command{
		Use:   "refs --name NAME [--tee tpm|tpm-sim] [--measure PCR=FILE]",
		Short: "Print this machine's measurements as unsigned reference values (to review, sign and publish)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := t.open()
			if err != nil {
				return err
			}
			defer a.Close()
			rd := make([]byte, 32)
			ev, err := a.Quote(rd)
			if err != nil {
				return err
			}
			c, err := tpmquote.Verify(ev, rd)
			if err != nil {
				return err
			}
			delete(c.Measurements, "tpm.ak")
			rv, err := vault.UnsignedRefs(name, t.tee, desc, time.Now().UTC(), c.Measurements)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(e.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(rv)
		},
	}
	t.add(c)
	c.Flags().StringVar(&name, "name", "", "name of the reference values (e.g. inference-v1)")
	c.Flags().StringVar(&desc, "description", "", "what these values are (firmware, image, version)")
	return c
}
