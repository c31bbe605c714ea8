// Package gpu collects NVIDIA GPU attestation evidence on the machine it
// runs on, through the driver's management library (NVML, via go-nvml):
// per GPU in confidential-computing mode, the SPDM attestation report bound
// to a verifier's 32-byte nonce and the device's attestation certificate
// chain, as attest envelopes the broker's composite verifier takes.
package gpu

import (
	"errors"
	"fmt"
	"strings"

	"github.com/digital-embassy/embassy/internal/attest"
	"github.com/digital-embassy/embassy/internal/hint"
)

// Library names the driver library the collector loads.
const Library = "libnvidia-ml.so.1"

// NonceSize is the size of the nonce an SPDM report binds.
const NonceSize = 32

// maxDevices bounds the GPUs one collection reports (the broker takes at
// most 16 device parts).
const maxDevices = 16

// ErrNoLibrary is returned when the driver library cannot be loaded.
var ErrNoLibrary = errors.New("the NVIDIA driver library " + Library + " is not available")

// NVML is the part of the driver library the collector calls; go-nvml
// implements it (nvml_cgo.go) and tests replay recorded evidence through
// a fake.
type NVML interface {
	Init() error // ErrNoLibrary when the library is absent
	Shutdown() error
	// CCState reports whether confidential computing is enabled and whether
	// the devtools (debug) mode is on.
	CCState() (enabled, devtools bool, err error)
	DeviceCount() (int, error)
	Device(i int) (Device, error)
}

// Device is one GPU.
type Device interface {
	UUID() (string, error)
	Arch() (string, error) // "hopper", "blackwell", or another name
	// AttestationReport returns the SPDM GET_MEASUREMENTS request and
	// signed response the GPU produced for nonce.
	AttestationReport(nonce [NonceSize]byte) ([]byte, error)
	// CertChain returns the device's attestation certificate chain (PEM,
	// device leaf first).
	CertChain() ([]byte, error)
}

// Collector produces GPU evidence. Open it once, call Quote for every
// nonce, Close it when done.
type Collector struct {
	lib  NVML
	devs []Device
}

// Open initialises lib and lists its GPUs. It fails when the library is
// absent (ErrNoLibrary, with a hint naming --gpu none), when there is no
// GPU, or when confidential computing is off or in devtools mode (the
// reports of such a GPU attest nothing a verifier should accept).
func Open(lib NVML) (*Collector, error) {
	if err := lib.Init(); err != nil {
		if errors.Is(err, ErrNoLibrary) {
			return nil, hint.Wrap(err, "install the NVIDIA driver on a GPU machine, or run with --gpu none (CPU evidence only)")
		}
		return nil, hint.Wrap(fmt.Errorf("NVML init: %w", err), "check the NVIDIA driver (nvidia-smi), or run with --gpu none")
	}
	c := &Collector{lib: lib}
	fail := func(err error, advice string) (*Collector, error) {
		_ = lib.Shutdown() // the open error is the one to report
		return nil, hint.Wrap(err, advice)
	}
	n, err := lib.DeviceCount()
	if err != nil {
		return fail(fmt.Errorf("NVML device count: %w", err), "check the NVIDIA driver (nvidia-smi), or run with --gpu none")
	}
	if n == 0 {
		return fail(ErrNoGPU, "run with --gpu none (CPU evidence only) on a machine without GPUs")
	}
	if n > maxDevices {
		return fail(fmt.Errorf("%d GPUs: at most %d are attested in one request", n, maxDevices), "limit the visible GPUs (CUDA_VISIBLE_DEVICES does not apply to NVML; use a smaller VM)")
	}
	on, devtools, err := lib.CCState()
	if err != nil {
		return fail(fmt.Errorf("NVML confidential-computing state: %w", err), "the driver must support confidential computing (R535 or later on Hopper), or run with --gpu none")
	}
	if !on {
		return fail(ErrCCOff, "enable confidential-computing mode on the GPUs (nvidia-smi conf-compute), or run with --gpu none")
	}
	if devtools {
		return fail(fmt.Errorf("the GPUs are in confidential-computing devtools mode, whose reports attest nothing"), "switch the GPUs to production CC mode, or run with --gpu none")
	}
	for i := range n {
		d, err := lib.Device(i)
		if err != nil {
			return fail(fmt.Errorf("NVML device %d: %w", i, err), "check the NVIDIA driver (nvidia-smi)")
		}
		c.devs = append(c.devs, d)
	}
	return c, nil
}

// ErrNoGPU is returned when the library loads but lists no GPU.
var ErrNoGPU = errors.New("the NVIDIA driver lists no GPU")

// ErrCCOff is returned when confidential computing is not enabled.
var ErrCCOff = errors.New("the GPUs are not in confidential-computing mode")

// Count is the number of GPUs the collector attests.
func (c *Collector) Count() int { return len(c.devs) }

// Close shuts the library down.
func (c *Collector) Close() error { return c.lib.Shutdown() }

// Quote returns one attest envelope (TEE nvidia, binary SPDM report, PEM
// chain) per GPU, every report bound to nonce, which must be 32 bytes (the
// broker's report data is SHA-256). It checks that each report carries the
// nonce it asked for, so a driver returning a stale report fails here
// rather than at the broker.
func (c *Collector) Quote(nonce []byte) ([]attest.Envelope, error) {
	if len(nonce) != NonceSize {
		return nil, fmt.Errorf("GPU nonce is %d bytes, an SPDM report binds %d", len(nonce), NonceSize)
	}
	var n [NonceSize]byte
	copy(n[:], nonce)
	var out []attest.Envelope
	for i, d := range c.devs {
		uuid, err := d.UUID()
		if err != nil {
			return nil, fmt.Errorf("gpu%d: uuid: %w", i, err)
		}
		arch, err := d.Arch()
		if err != nil {
			return nil, fmt.Errorf("gpu%d (%s): architecture: %w", i, uuid, err)
		}
		if arch != "hopper" && arch != "blackwell" {
			return nil, hint.Wrap(fmt.Errorf("gpu%d (%s): architecture %s has no confidential-computing attestation", i, uuid, arch), "use Hopper or Blackwell GPUs, or run with --gpu none")
		}
		rep, err := d.AttestationReport(n)
		if err != nil {
			return nil, fmt.Errorf("gpu%d (%s): attestation report: %w", i, uuid, err)
		}
		r, err := attest.ParseHopperReport(rep)
		if err != nil {
			return nil, fmt.Errorf("gpu%d (%s): the driver's attestation report does not decode: %w", i, uuid, err)
		}
		if string(r.RequestNonce) != string(n[:]) {
			return nil, fmt.Errorf("gpu%d (%s): the attestation report binds nonce %x, not the one asked for", i, uuid, r.RequestNonce)
		}
		chain, err := d.CertChain()
		if err != nil {
			return nil, fmt.Errorf("gpu%d (%s): certificate chain: %w", i, uuid, err)
		}
		if !strings.Contains(string(chain), "-----BEGIN CERTIFICATE-----") {
			return nil, fmt.Errorf("gpu%d (%s): the driver's certificate chain is not PEM", i, uuid)
		}
		out = append(out, attest.Envelope{TEE: attest.NVIDIA, Evidence: rep, Certs: chain})
	}
	return out, nil
}
