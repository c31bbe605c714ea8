package tpmquote

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/google/go-tpm-tools/client"
	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/legacy/tpm2"
	"github.com/google/go-tpm/tpmutil"
)

// DefaultPCRs are the PCRs quoted by default: firmware (0-7) and the
// workload image (9, 11, 14 as extended by the OS or by Measure).
var DefaultPCRs = []int{0, 1, 2, 3, 4, 5, 6, 7, 9, 11, 14}

// Attester produces quotes from one TPM.
type Attester struct {
	mu    sync.Mutex
	rw    io.ReadWriteCloser
	ak    *client.Key
	akDER []byte
	pcrs  []int
}

// simMu serialises simulator use: the reference simulator is one global
// instance inside the process.
var simMu sync.Mutex

// OpenSimulator starts the TPM reference simulator (in process) with a
// fixed seed, so that its attestation key, and hence the workload
// identity, is the same in every process that uses the same seed. It is
// for tests and demonstrations: a simulator proves nothing about a machine.
func OpenSimulator(seed int64) (*Attester, error) {
	simMu.Lock()
	sim, err := simulator.GetWithFixedSeedInsecure(seed)
	if err != nil {
		simMu.Unlock()
		return nil, fmt.Errorf("tpm simulator: %w", err)
	}
	a, err := newAttester(&unlockOnClose{ReadWriteCloser: sim})
	if err != nil {
		sim.Close()
		simMu.Unlock()
		return nil, err
	}
	return a, nil
}

type unlockOnClose struct {
	io.ReadWriteCloser
	once sync.Once
}

func (u *unlockOnClose) Close() error {
	err := u.ReadWriteCloser.Close()
	u.once.Do(simMu.Unlock)
	return err
}

// Open uses the TPM at path (e.g. /dev/tpmrm0).
func Open(path string) (*Attester, error) {
	rw, err := tpm2.OpenTPM(path)
	if err != nil {
		return nil, fmt.Errorf("open tpm %s: %w", path, err)
	}
	a, err := newAttester(rw)
	if err != nil {
		rw.Close()
		return nil, err
	}
	return a, nil
}

func newAttester(rw io.ReadWriteCloser) (*Attester, error) {
	ak, err := client.AttestationKeyECC(rw)
	if err != nil {
		return nil, fmt.Errorf("tpm attestation key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(ak.PublicKey())
	if err != nil {
		ak.Close()
		return nil, fmt.Errorf("tpm attestation key: %w", err)
	}
	return &Attester{rw: rw, ak: ak, akDER: der, pcrs: DefaultPCRs}, nil
}

// Identity is the fingerprint of the attestation key (see Fingerprint).
func (a *Attester) Identity() string { return Fingerprint(a.akDER) }

// Measure extends PCR pcr with the SHA-256 of data, as a measured boot
// or launch would with an image.
func (a *Attester) Measure(pcr int, data []byte) error {
	if pcr < 0 || pcr > 23 {
		return fmt.Errorf("pcr %d: want 0 to 23", pcr)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	d := sha256.Sum256(data)
	if err := tpm2.PCRExtend(a.rw, tpmutil.Handle(pcr), tpm2.AlgSHA256, d[:], ""); err != nil {
		return fmt.Errorf("extend pcr %d: %w", pcr, err)
	}
	return nil
}

// Quote returns evidence whose qualifying data is reportData (at most 64 bytes).
func (a *Attester) Quote(reportData []byte) ([]byte, error) {
	if len(reportData) > 64 {
		return nil, errors.New("tpm quote: report data is longer than 64 bytes")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	q, err := a.ak.Quote(tpm2.PCRSelection{Hash: tpm2.AlgSHA256, PCRs: a.pcrs}, reportData)
	if err != nil {
		return nil, fmt.Errorf("tpm quote: %w", err)
	}
	ev := Evidence{Format: Format, AK: a.akDER, Quote: q.GetQuote(), Sig: q.GetRawSig(), PCRs: map[string][]byte{}}
	for n, v := range q.GetPcrs().GetPcrs() {
		ev.PCRs[strconv.Itoa(int(n))] = v
	}
	return json.Marshal(ev)
}

// Close flushes the attestation key and closes the TPM.
func (a *Attester) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ak != nil {
		a.ak.Close()
		a.ak = nil
	}
	return a.rw.Close()
}
