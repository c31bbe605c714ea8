package vault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/broker"
	"github.com/digital-embassy/embassy/internal/broker/tpmquote"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/workload"
)

// WorkloadTEE selects the evidence source of a workload machine.
type WorkloadTEE struct {
	TEE      string   // tpm (a device) or tpm-sim (the reference simulator, tests)
	TPM      string   // the device, with tpm
	SimSeed  int64    // the simulator's seed, with tpm-sim
	Measures []string // PCR=FILE: extended before quoting, as a measured launch does
}

// OpenWorkloadAttester opens the TPM of t and extends its measurements.
func OpenWorkloadAttester(t WorkloadTEE) (*tpmquote.Attester, error) {
	var a *tpmquote.Attester
	var err error
	switch t.TEE {
	case "tpm":
		a, err = tpmquote.Open(t.TPM)
	case "tpm-sim":
		a, err = tpmquote.OpenSimulator(t.SimSeed)
	default:
		return nil, hint.WithCode(fmt.Errorf("--tee %q: use tpm or tpm-sim", t.TEE), hint.CodeUsage)
	}
	if err != nil {
		return nil, hint.Wrap(err, "use --tee tpm-sim on a machine without a TPM (tests only)")
	}
	for _, m := range t.Measures {
		p, file, ok := strings.Cut(m, "=")
		n, perr := strconv.Atoi(p)
		if !ok || perr != nil {
			a.Close()
			return nil, hint.WithCode(fmt.Errorf("--measure %q: use PCR=FILE, e.g. 9=model-runner.py", m), hint.CodeUsage)
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

// WorkloadIdentity is the machine's workload identity: the fingerprint of
// its TPM attestation key.
func WorkloadIdentity(t WorkloadTEE) (string, error) {
	a, err := OpenWorkloadAttester(t)
	if err != nil {
		return "", err
	}
	defer a.Close()
	return a.Identity(), nil
}

// WorkloadRefs quotes the machine's measurements (less the attestation key
// itself) as unsigned reference values named name, issued at issued.
func WorkloadRefs(t WorkloadTEE, name, description string, issued time.Time) (*broker.RefValues, error) {
	a, err := OpenWorkloadAttester(t)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	rd := make([]byte, 32)
	ev, err := a.Quote(rd)
	if err != nil {
		return nil, err
	}
	c, err := tpmquote.Verify(ev, rd)
	if err != nil {
		return nil, err
	}
	delete(c.Measurements, "tpm.ak")
	return UnsignedRefs(name, t.TEE, description, issued, c.Measurements)
}

// WorkloadRun is one 'workload run': the broker to ask, with the home CA
// that signs its certificate, the dataset and the sites holding it, and
// the command to run on the plaintext.
type WorkloadRun struct {
	Broker, CA, Dataset string
	Sites               []string
	TEE                 WorkloadTEE
	Devices             workload.DeviceAttester // GPU evidence; nil for CPU evidence only
	Command             []string
	Stdout, Stderr      io.Writer
	Logger              *slog.Logger
}

// RunWorkload asks the broker for the dataset's keys with fresh evidence
// of this machine, decrypts the dataset to a private memory-backed folder,
// runs the command on it and wipes the plaintext (workload.Run).
func RunWorkload(ctx context.Context, r WorkloadRun) error {
	caCert, err := pki.LoadCert(r.CA)
	if err != nil {
		return hint.WithCode(err, hint.CodeUsage)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	a, err := OpenWorkloadAttester(r.TEE)
	if err != nil {
		return err
	}
	defer a.Close()
	rs, closeSites, err := OpenURLSites(ctx, r.Sites, r.Logger)
	if err != nil {
		return err
	}
	defer closeSites()
	cl := workload.NewClient(strings.TrimSuffix(r.Broker, "/"), r.TEE.TEE, "",
		&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13, CurvePreferences: pki.CurvePreferences})
	cl.Devices = r.Devices
	if err := cl.LoadInfo(ctx); err != nil {
		return err
	}
	return workload.Run(ctx, workload.RunOptions{Client: cl, Attester: a, Dataset: r.Dataset, Sites: rs,
		Command: r.Command, Stdout: r.Stdout, Stderr: r.Stderr, Logger: r.Logger})
}
