package gpu

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/attest"
	"github.com/digital-embassy/embassy/internal/hint"
)

// The recorded H100 evidence (internal/attest/testdata/nvidia, from
// ../shared/testdata/attestation/nvidia): a report bound to this nonce and
// the device's chain to NVIDIA's root.
const recordedNonce = "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb"

func vector(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "nvidia", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeNVML replays recorded evidence as the driver would return it.
type fakeNVML struct {
	initErr    error
	cc, devtls bool
	devs       []*fakeDevice
	shutdowns  int
}

func (f *fakeNVML) Init() error                  { return f.initErr }
func (f *fakeNVML) Shutdown() error              { f.shutdowns++; return nil }
func (f *fakeNVML) CCState() (bool, bool, error) { return f.cc, f.devtls, nil }
func (f *fakeNVML) DeviceCount() (int, error)    { return len(f.devs), nil }
func (f *fakeNVML) Device(i int) (Device, error) { return f.devs[i], nil }

type fakeDevice struct {
	arch   string
	report []byte // what the driver returns, whatever the nonce
	chain  []byte
	asked  [][NonceSize]byte
}

func (d *fakeDevice) UUID() (string, error) { return "GPU-0f6e7c1a-recorded", nil }
func (d *fakeDevice) Arch() (string, error) { return d.arch, nil }
func (d *fakeDevice) AttestationReport(n [NonceSize]byte) ([]byte, error) {
	d.asked = append(d.asked, n)
	return d.report, nil
}
func (d *fakeDevice) CertChain() ([]byte, error) { return d.chain, nil }

func recorded(t *testing.T) *fakeDevice {
	rep, err := hex.DecodeString(strings.TrimSpace(string(vector(t, "hopperAttestationReport.txt"))))
	if err != nil {
		t.Fatal(err)
	}
	return &fakeDevice{arch: "hopper", report: rep, chain: vector(t, "hopper_cert_chain_case1.txt")}
}

// TestCollectRecordedH100 replays the recorded H100 report and chain
// through the collector; the envelopes it produces, sent as the broker
// sends them (JSON), verify with internal/attest against NVIDIA's root and
// bind the nonce the collector was given.
func TestCollectRecordedH100(t *testing.T) {
	dev := recorded(t)
	lib := &fakeNVML{cc: true, devs: []*fakeDevice{dev, recorded(t)}}
	c, err := Open(lib)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	nonce, _ := hex.DecodeString(recordedNonce)
	envs, err := c.Quote(nonce)
	if err != nil {
		t.Fatal(err)
	}
	if len(envs) != 2 || !bytes.Equal(dev.asked[0][:], nonce) {
		t.Fatalf("%d envelopes, nonce asked %x", len(envs), dev.asked)
	}
	wire, err := json.Marshal(envs)
	if err != nil {
		t.Fatal(err)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(wire, &raws); err != nil {
		t.Fatal(err)
	}
	for i, r := range raws {
		ev, err := attest.ParseEnvelope(r)
		if err != nil {
			t.Fatal(err)
		}
		cl, err := attest.Verify(ev, attest.Options{Nonce: nonce})
		if err != nil {
			t.Fatalf("gpu%d: %v", i, err)
		}
		if cl.TEE != attest.NVIDIA || hex.EncodeToString(cl.ReportData) != recordedNonce || cl.Measurements["fwid"] == "" {
			t.Fatalf("gpu%d claims %+v", i, cl)
		}
		// The same evidence under another nonce is refused: it is bound.
		other := bytes.Repeat([]byte{7}, NonceSize)
		if _, err := attest.Verify(ev, attest.Options{Nonce: other}); !errors.Is(err, attest.ErrRefused) {
			t.Fatalf("gpu%d under a foreign nonce: %v", i, err)
		}
	}
}

// TestCollectRefusesStaleReport: a driver (or a hostile host's shim)
// returning a report for another nonce fails at the collector.
func TestCollectRefusesStaleReport(t *testing.T) {
	c, err := Open(&fakeNVML{cc: true, devs: []*fakeDevice{recorded(t)}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Quote(bytes.Repeat([]byte{1}, NonceSize))
	if err == nil || !strings.Contains(err.Error(), "not the one asked for") {
		t.Fatalf("stale report: %v", err)
	}
	if _, err := c.Quote([]byte("short")); err == nil {
		t.Fatal("a 5-byte nonce was accepted")
	}
}

func TestCollectBadDriverOutput(t *testing.T) {
	d := recorded(t)
	d.chain = []byte("not a chain")
	c, _ := Open(&fakeNVML{cc: true, devs: []*fakeDevice{d}})
	nonce, _ := hex.DecodeString(recordedNonce)
	if _, err := c.Quote(nonce); err == nil || !strings.Contains(err.Error(), "not PEM") {
		t.Fatalf("non-PEM chain: %v", err)
	}
	d = recorded(t)
	d.report = d.report[:100]
	c, _ = Open(&fakeNVML{cc: true, devs: []*fakeDevice{d}})
	if _, err := c.Quote(nonce); err == nil || !strings.Contains(err.Error(), "does not decode") {
		t.Fatalf("truncated report: %v", err)
	}
	d = recorded(t)
	d.arch = "ampere"
	c, _ = Open(&fakeNVML{cc: true, devs: []*fakeDevice{d}})
	if _, err := c.Quote(nonce); err == nil || !strings.Contains(err.Error(), "ampere") {
		t.Fatalf("ampere: %v", err)
	}
}

// TestOpenRefusals: no GPU, CC off, devtools mode each fail with a hint
// naming --gpu none, and the library is shut down again.
func TestOpenRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		lib  *fakeNVML
		want error
	}{
		{"no gpu", &fakeNVML{cc: true}, ErrNoGPU},
		{"cc off", &fakeNVML{devs: []*fakeDevice{recorded(t)}}, ErrCCOff},
		{"devtools", &fakeNVML{cc: true, devtls: true, devs: []*fakeDevice{recorded(t)}}, nil},
	} {
		_, err := Open(tc.lib)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !strings.Contains(hint.Of(err), "--gpu none") || tc.lib.shutdowns != 1 {
			t.Fatalf("%s: hint %q, %d shutdowns", tc.name, hint.Of(err), tc.lib.shutdowns)
		}
	}
}

// TestRealNoLibrary runs the real go-nvml on this machine, which has no
// libnvidia-ml.so: Open fails with ErrNoLibrary, naming the library and
// --gpu none, and does not panic.
func TestRealNoLibrary(t *testing.T) {
	c, err := Open(Real())
	if err == nil {
		c.Close()
		t.Skip("this machine has the NVIDIA driver library and an attestable GPU; the no-library path is not exercised here")
	}
	if !errors.Is(err, ErrNoLibrary) {
		if strings.Contains(err.Error(), "NVML") {
			t.Skipf("this machine has the NVIDIA driver library (%v); the no-library path is not exercised here", err)
		}
		t.Fatalf("want ErrNoLibrary: %v", err)
	}
	if !strings.Contains(err.Error(), Library) || !strings.Contains(hint.Of(err), "--gpu none") {
		t.Fatalf("error %q hint %q", err, hint.Of(err))
	}
}
