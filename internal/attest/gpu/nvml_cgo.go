//go:build cgo && linux

package gpu

import (
	"errors"
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// Real returns the driver library through go-nvml, which loads
// libnvidia-ml.so.1 with dlopen at Init (so the binary runs, and fails
// cleanly, where the library is absent).
func Real() NVML { return &real{lib: nvml.New()} }

type real struct{ lib nvml.Interface }

func nvErr(r nvml.Return) error {
	if r == nvml.SUCCESS {
		return nil
	}
	return fmt.Errorf("NVML: %s", nvml.ErrorString(r))
}

func (r *real) Init() error {
	ret := r.lib.Init()
	if ret == nvml.ERROR_LIBRARY_NOT_FOUND {
		return ErrNoLibrary
	}
	return nvErr(ret)
}

func (r *real) Shutdown() error { return nvErr(r.lib.Shutdown()) }

func (r *real) CCState() (bool, bool, error) {
	s, ret := r.lib.SystemGetConfComputeState()
	if err := nvErr(ret); err != nil {
		return false, false, err
	}
	return s.CcFeature == nvml.CC_SYSTEM_FEATURE_ENABLED, s.DevToolsMode == nvml.CC_SYSTEM_DEVTOOLS_MODE_ON, nil
}

func (r *real) DeviceCount() (int, error) {
	n, ret := r.lib.DeviceGetCount()
	return n, nvErr(ret)
}

func (r *real) Device(i int) (Device, error) {
	d, ret := r.lib.DeviceGetHandleByIndex(i)
	if err := nvErr(ret); err != nil {
		return nil, err
	}
	return realDevice{d}, nil
}

type realDevice struct{ d nvml.Device }

func (d realDevice) UUID() (string, error) {
	u, ret := d.d.GetUUID()
	return u, nvErr(ret)
}

func (d realDevice) Arch() (string, error) {
	a, ret := d.d.GetArchitecture()
	if err := nvErr(ret); err != nil {
		return "", err
	}
	switch a {
	case nvml.DEVICE_ARCH_HOPPER:
		return "hopper", nil
	case nvml.DEVICE_ARCH_BLACKWELL:
		return "blackwell", nil
	}
	return fmt.Sprintf("arch-%d", a), nil
}

func (d realDevice) AttestationReport(nonce [NonceSize]byte) ([]byte, error) {
	var rep nvml.ConfComputeGpuAttestationReport
	rep.Nonce = nonce
	if err := nvErr(d.d.GetConfComputeGpuAttestationReport(&rep)); err != nil {
		return nil, err
	}
	if rep.AttestationReportSize == 0 || int(rep.AttestationReportSize) > len(rep.AttestationReport) {
		return nil, fmt.Errorf("NVML: attestation report size %d is out of range", rep.AttestationReportSize)
	}
	return append([]byte(nil), rep.AttestationReport[:rep.AttestationReportSize]...), nil
}

func (d realDevice) CertChain() ([]byte, error) {
	c, ret := d.d.GetConfComputeGpuCertificate()
	if err := nvErr(ret); err != nil {
		return nil, err
	}
	if c.AttestationCertChainSize == 0 || int(c.AttestationCertChainSize) > len(c.AttestationCertChain) {
		return nil, errors.New("NVML: attestation certificate chain size is out of range")
	}
	return append([]byte(nil), c.AttestationCertChain[:c.AttestationCertChainSize]...), nil
}
