package workload_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/attest"
	"github.com/digital-embassy/embassy/internal/broker"
	"github.com/digital-embassy/embassy/internal/broker/tpmquote"
	"github.com/digital-embassy/embassy/internal/broker/verifiers"
	"github.com/digital-embassy/embassy/internal/workload"
)

// recordedGPU returns the recorded H100 envelope whatever it is asked: a
// hostile device (or shim) replaying old evidence.
type recordedGPU struct {
	env   attest.Envelope
	asked [][]byte
}

func (g *recordedGPU) Quote(rd []byte) ([]attest.Envelope, error) {
	g.asked = append(g.asked, bytes.Clone(rd))
	return []attest.Envelope{g.env}, nil
}

func readVector(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "attest", "testdata", "nvidia", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFetchSendsDeviceEvidence: with Devices set, the release request
// carries the GPU envelopes in "additional", the devices were asked for the
// same report data as the CPU quote, and the broker's real composite
// verifier checks those parts: replayed GPU evidence is refused (device 0,
// nonce) although the CPU quote passes.
func TestFetchSendsDeviceEvidence(t *testing.T) {
	rep, err := hex.DecodeString(strings.TrimSpace(string(readVector(t, "hopperAttestationReport.txt"))))
	if err != nil {
		t.Fatal(err)
	}
	gpu := &recordedGPU{env: attest.Envelope{TEE: attest.NVIDIA, Evidence: rep, Certs: readVector(t, "hopper_cert_chain_case1.txt")}}
	nonce := bytes.Repeat([]byte{0x42}, 32)
	var got broker.ReleaseRequest
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/challenge":
			json.NewEncoder(w).Encode(broker.Challenge{Session: "s1", Nonce: nonce})
		case "/v1/release":
			if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
				t.Error(err)
			}
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(broker.APIError{Error: "refused", Code: "evidence", Detail: "test"})
		}
	}))
	defer srv.Close()
	att, err := tpmquote.OpenSimulator(1)
	if err != nil {
		t.Fatal(err)
	}
	defer att.Close()
	cl := &workload.Client{URL: srv.URL, HTTP: srv.Client(), TEE: "tpm-sim", Home: "h1", Devices: gpu}
	if _, _, err := cl.Fetch(t.Context(), att, "weights"); !errors.Is(err, workload.ErrRefused) {
		t.Fatalf("fetch: %v", err)
	}
	want := broker.ReportData(nonce, got.PubKey)
	if len(gpu.asked) != 1 || !bytes.Equal(gpu.asked[0], want) {
		t.Fatalf("devices asked for %x, want the release's report data %x", gpu.asked, want)
	}
	var envs []attest.Envelope
	if err := json.Unmarshal([]byte(got.Additional), &envs); err != nil || len(envs) != 1 || envs[0].TEE != attest.NVIDIA || !bytes.Equal(envs[0].Evidence, rep) {
		t.Fatalf("additional %.80q: %v", got.Additional, err)
	}
	v := verifiers.Verifiers{TPM: tpmquote.Verifier{}}
	if _, err := v.Verify("tpm-sim", got.Evidence, want, time.Now()); err != nil {
		t.Fatalf("the CPU quote alone: %v", err)
	}
	_, err = v.VerifyComposite("tpm-sim", got.Evidence, got.Additional, want, time.Now())
	if !errors.Is(err, attest.ErrRefused) || !strings.Contains(err.Error(), "device 0") || !strings.Contains(err.Error(), "nonce") {
		t.Fatalf("replayed GPU evidence: %v", err)
	}
}

// TestFetchWithoutDevices: no Devices, no "additional" (CPU evidence only).
func TestFetchWithoutDevices(t *testing.T) {
	var raw map[string]any
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/challenge":
			json.NewEncoder(w).Encode(broker.Challenge{Session: "s1", Nonce: make([]byte, 32)})
		case "/v1/release":
			json.NewDecoder(r.Body).Decode(&raw)
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(broker.APIError{Error: "refused", Code: "evidence", Detail: "test"})
		}
	}))
	defer srv.Close()
	att, err := tpmquote.OpenSimulator(1)
	if err != nil {
		t.Fatal(err)
	}
	defer att.Close()
	cl := &workload.Client{URL: srv.URL, HTTP: srv.Client(), TEE: "tpm-sim", Home: "h1"}
	if _, _, err := cl.Fetch(t.Context(), att, "weights"); !errors.Is(err, workload.ErrRefused) {
		t.Fatalf("fetch: %v", err)
	}
	if _, ok := raw["additional"]; ok || raw["evidence"] == nil {
		t.Fatalf("request fields %v", raw)
	}
}
