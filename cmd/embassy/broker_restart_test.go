package main

import (
	"bufio"
	"bytes"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/broker"
	"github.com/digital-embassy/embassy/internal/broker/tpmquote"
)

// brokerHome prepares f for the broker: the dataset "weights" holding
// model, the home PKI, the workload lu-gpu-1 (TPM simulator, seed 1) at
// site a, its approved measurement (PCR 9 = infer) and the example's
// release rules. It returns the path of the inference script.
func brokerHome(t *testing.T, f *fixture, model []byte) string {
	t.Helper()
	return brokerHomeFiles(t, f, map[string][]byte{"model.bin": model})
}

// brokerHomeFiles is brokerHome with the weights dataset's files given
// (name -> content): the one broker fixture of the broker, restart and
// dashboard tests.
func brokerHomeFiles(t *testing.T, f *fixture, files map[string][]byte) string {
	t.Helper()
	infer, err := filepath.Abs("../../examples/broker/infer.sh")
	if err != nil {
		t.Fatal(err)
	}
	weights := filepath.Join(f.dir, "weights")
	os.MkdirAll(weights, 0o755)
	for name, b := range files {
		os.WriteFile(filepath.Join(weights, name), b, 0o644)
	}
	f.run("snapshot", "weights", weights, "--class", "internal")
	f.run("pki", "init")
	id := strings.TrimSpace(f.run("workload", "identity", "--tee", "tpm-sim"))
	f.run("broker", "workload", "add", "lu-gpu-1", "--identity", id, "--site", "a")
	refs := filepath.Join(f.dir, "refs.json")
	os.WriteFile(refs, []byte(f.run("workload", "refs", "--tee", "tpm-sim", "--measure", "9="+infer, "--name", "inference-v1")), 0o644)
	signed := filepath.Join(f.dir, "refs.signed.json")
	f.run("broker", "refs", "sign", refs, "-o", signed)
	f.run("broker", "refs", "add", signed)
	f.run("broker", "refs", "approve", "inference-v1")
	rules, err := os.ReadFile("../../examples/broker/release.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(f.home, "broker", "release.yaml"), rules, 0o644)
	return infer
}

// startBroker runs `embassy broker serve` on an ephemeral port and returns
// the process and its URL (the first line it prints names the address).
func startBroker(t *testing.T, f *fixture) (*exec.Cmd, string) {
	t.Helper()
	return startBrokerCmd(t, f.cmd("broker", "serve", "--listen", "127.0.0.1:0"))
}

func startBrokerCmd(t *testing.T, srv *exec.Cmd) (*exec.Cmd, string) {
	t.Helper()
	out, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var serr bytes.Buffer
	srv.Stderr = &serr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Signal(syscall.SIGTERM); srv.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("broker serve: %v\n%s", err, serr.String())
	}
	return srv, strings.Fields(line)[3]
}

// brokerClient is an HTTPS client trusting the home's CA.
func brokerClient(t *testing.T, f *fixture) *http.Client {
	t.Helper()
	pemCA, err := os.ReadFile(filepath.Join(f.home, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCA) {
		t.Fatal("no CA certificate in pki/ca.crt")
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func postJSON(t *testing.T, c *http.Client, url string, in, out any) int {
	t.Helper()
	b, _ := json.Marshal(in)
	resp, err := c.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("%s: %d, body does not decode: %v", url, resp.StatusCode, err)
	}
	return resp.StatusCode
}

// TestBrokerKilledMidSession kills the real broker with SIGKILL between
// the challenge and the release: the nonce it issued dies with it. The
// restarted broker refuses the pre-restart session with the reason
// "session" (and logs the refusal), while a fresh challenge to it releases.
func TestBrokerKilledMidSession(t *testing.T) {
	f := newFixture(t)
	model := make([]byte, 64<<10)
	rand.Read(model)
	infer := brokerHome(t, f, model)
	hc := brokerClient(t, f)

	srv, url := startBroker(t, f)
	var ch broker.Challenge
	if code := postJSON(t, hc, url+"/v1/challenge", broker.ChallengeRequest{TEE: "tpm-sim"}, &ch); code != 200 || len(ch.Nonce) != broker.NonceSize {
		t.Fatalf("challenge: %d %+v", code, ch)
	}
	// And a KBS session (cookie) opened before the kill.
	jar, _ := cookiejar.New(nil)
	kc := &http.Client{Timeout: 30 * time.Second, Transport: hc.Transport, Jar: jar}
	var kch broker.KBSChallenge
	if code := postJSON(t, kc, url+"/kbs/v0/auth", map[string]string{"version": "0.1.1", "tee": "tpm-sim"}, &kch); code != 200 || kch.Nonce == "" {
		t.Fatalf("kbs auth: %d %+v", code, kch)
	}
	if err := srv.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	srv.Wait()

	// Genuine evidence for the pre-restart nonce, from the enrolled
	// workload running the approved image.
	sim, err := tpmquote.OpenSimulator(1)
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	img, _ := os.ReadFile(infer)
	if err := sim.Measure(9, img); err != nil {
		t.Fatal(err)
	}
	evidence := func(nonce []byte) ([]byte, []byte) {
		priv, err := hpke.MLKEM768X25519().GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		pub := priv.PublicKey().Bytes()
		ev, err := sim.Quote(broker.ReportData(nonce, pub))
		if err != nil {
			t.Fatal(err)
		}
		return ev, pub
	}
	ev, pub := evidence(ch.Nonce)

	srv2, url2 := startBroker(t, f)
	var ae broker.APIError
	code := postJSON(t, hc, url2+"/v1/release", broker.ReleaseRequest{Session: ch.Session, Dataset: "weights", TEE: "tpm-sim", Evidence: ev, PubKey: pub}, &ae)
	if code != http.StatusForbidden || ae != (broker.APIError{Error: "refused", Code: "session", Detail: "unknown session: the challenge expired, was already used, or the broker restarted; ask for a new challenge"}) {
		t.Fatalf("pre-restart session after kill -9: %d %+v", code, ae)
	}
	// The KBS cookie of the killed broker names no session of the new one.
	// (Cookies are not port-bound, so the jar sends it to the new port.)
	var kerr struct{ Type, Detail string }
	att := map[string]any{"runtime-data": map[string]any{"nonce": kch.Nonce, "tee-pubkey": map[string]string{"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW",
		"x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4", "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}}, "tee-evidence": json.RawMessage(ev)}
	code = postJSON(t, kc, url2+"/kbs/v0/attest", att, &kerr)
	if code != http.StatusUnauthorized || kerr.Type != "https://github.com/digital-embassy/embassy/docs/BROKER.md#session" || kerr.Detail != "unknown session: the challenge expired, was already used, or the broker restarted; ask for a new challenge" {
		t.Fatalf("KBS session after kill -9: %d %+v", code, kerr)
	}
	// The same session once more: still refused, nothing released.
	var ae2 broker.APIError
	if code := postJSON(t, hc, url2+"/v1/release", broker.ReleaseRequest{Session: ch.Session, Dataset: "weights", TEE: "tpm-sim", Evidence: ev, PubKey: pub}, &ae2); code != http.StatusForbidden {
		t.Fatalf("second try: %d %+v", code, ae2)
	}
	// A fresh challenge to the restarted broker releases.
	var ch2 broker.Challenge
	postJSON(t, hc, url2+"/v1/challenge", broker.ChallengeRequest{TEE: "tpm-sim"}, &ch2)
	ev2, pub2 := evidence(ch2.Nonce)
	var rr broker.ReleaseResponse
	if code := postJSON(t, hc, url2+"/v1/release", broker.ReleaseRequest{Session: ch2.Session, Dataset: "weights", TEE: "tpm-sim", Evidence: ev2, PubKey: pub2}, &rr); code != 200 || len(rr.Wrapped) == 0 {
		t.Fatalf("fresh session: %d %+v", code, rr)
	}
	srv2.Process.Signal(syscall.SIGTERM)
	srv2.Wait()
	var rel, ref []struct{ Dataset, Reason string }
	json.Unmarshal([]byte(f.run("--json", "log", "--kind", "key.release")), &rel)
	json.Unmarshal([]byte(f.run("--json", "log", "--kind", "key.refuse")), &ref)
	if len(rel) != 1 || len(ref) != 3 || ref[0].Reason != "session" || ref[1].Reason != "session" || ref[2].Reason != "session" {
		t.Fatalf("log: releases %+v refusals %+v", rel, ref)
	}
}

// TestBrokerAfterRotate: after `key rotate` (a new root epoch, every
// dataset moved to a new key version) the running broker releases the
// dataset's new key version, and the workload decrypts a snapshot taken
// after the rotation, under that version.
func TestBrokerAfterRotate(t *testing.T) {
	f := newFixture(t)
	model := make([]byte, 64<<10)
	rand.Read(model)
	infer := brokerHome(t, f, model)
	srv, url := startBroker(t, f)
	run := func() (string, string, int) {
		c := f.cmd("workload", "run", "--broker", url, "--dataset", "weights", "--site", filepath.Join(f.dir, "site-a"),
			"--ca", filepath.Join(f.home, "pki", "ca.crt"), "--tee", "tpm-sim", "--measure", "9="+infer, "--", "sh", infer)
		var o, e bytes.Buffer
		c.Stdout, c.Stderr = &o, &e
		err := c.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return o.String(), e.String(), c.ProcessState.ExitCode()
	}
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	o, e, code := run()
	wantRun(t, "before rotation", runResult{code, o, e}, 0, lines{
		rx(`weights-dir /dev/shm/embassy-workload-\d+/data`),
		"weights-sha256 " + sum(model),
		rx(`prediction [0-9a-f]{16}`),
	}, lines{"note: no GPU evidence (the NVIDIA driver library libnvidia-ml.so.1 is not available); sending CPU evidence only"})

	f.run("key", "rotate")
	model2 := make([]byte, 64<<10)
	rand.Read(model2)
	os.WriteFile(filepath.Join(f.dir, "weights", "model.bin"), model2, 0o644)
	f.run("snapshot", "weights", filepath.Join(f.dir, "weights"), "--class", "internal")

	o, e, code = run()
	wantRun(t, "after rotation", runResult{code, o, e}, 0, lines{
		rx(`weights-dir /dev/shm/embassy-workload-\d+/data`),
		"weights-sha256 " + sum(model2),
		rx(`prediction [0-9a-f]{16}`),
	}, lines{"note: no GPU evidence (the NVIDIA driver library libnvidia-ml.so.1 is not available); sending CPU evidence only"})
	srv.Process.Signal(syscall.SIGTERM) // publishes the entries it sequenced
	srv.Wait()
	var rel []struct{ Dataset, Object string }
	json.Unmarshal([]byte(f.run("--json", "log", "--kind", "key.release")), &rel)
	if len(rel) != 2 || rel[0].Object != "v1" || rel[1].Object != "v2" {
		t.Fatalf("releases logged (want key versions v1 then v2): %+v", rel)
	}
}

// TestEmbassydBrokerRole runs the broker as a role of the real embassyd
// binary (embassyd --role broker): a workload fetches the key from it and
// its inference reads the weights; an unknown role is a usage error.
func TestEmbassydBrokerRole(t *testing.T) {
	f := newFixture(t)
	model := make([]byte, 64<<10)
	rand.Read(model)
	infer := brokerHome(t, f, model)
	d := exec.Command(embassyd(t), "--role", "broker", "--home", f.home, "--progress", "never", "--listen", "127.0.0.1:0")
	d.Env = append(os.Environ(), "EMBASSY_HOME=")
	srv, url := startBrokerCmd(t, d)
	c := f.cmd("workload", "run", "--broker", url, "--dataset", "weights", "--site", filepath.Join(f.dir, "site-a"),
		"--ca", filepath.Join(f.home, "pki", "ca.crt"), "--tee", "tpm-sim", "--measure", "9="+infer, "--", "sh", infer)
	var o, e bytes.Buffer
	c.Stdout, c.Stderr = &o, &e
	err := c.Run()
	s := sha256.Sum256(model)
	if err != nil {
		t.Fatalf("workload against embassyd --role broker: %v\n%s%s", err, o.String(), e.String())
	}
	wantRun(t, "workload against embassyd --role broker", runResult{0, o.String(), e.String()}, 0, lines{
		rx(`weights-dir /dev/shm/embassy-workload-\d+/data`),
		"weights-sha256 " + hex.EncodeToString(s[:]),
		rx(`prediction [0-9a-f]{16}`),
	}, lines{"note: no GPU evidence (the NVIDIA driver library libnvidia-ml.so.1 is not available); sending CPU evidence only"})
	srv.Process.Signal(syscall.SIGTERM)
	srv.Wait()
	if code := srv.ProcessState.ExitCode(); code != 130 { // the documented "interrupted", as embassy broker serve
		t.Fatalf("embassyd --role broker on SIGTERM: exit %d, want 130", code)
	}
	var rel []struct{ Dataset string }
	json.Unmarshal([]byte(f.run("--json", "log", "--kind", "key.release")), &rel)
	if len(rel) != 1 || rel[0].Dataset != "weights" {
		t.Fatalf("release logged by embassyd --role broker: %+v", rel)
	}
	bad := exec.Command(embassyd(t), "--role", "witness")
	var be bytes.Buffer
	bad.Stderr = &be
	err = bad.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("unknown role: %v %s", err, be.String())
	}
	wantRun(t, "unknown role", runResult{ee.ExitCode(), "", be.String()}, 2, nil,
		lines{`embassyd: error: --role "witness": use site (the default: a host site's daemon) or broker (the key broker, at home)`})
}
