// Package workload is the workload side of the key broker: it produces
// evidence on the machine it runs on, fetches a dataset's keys from the
// broker bound to a key pair it generated, decrypts the dataset from a vault
// site into a private memory-backed folder, runs a command on it and wipes
// the plaintext when the command ends.
package workload

import (
	"bytes"
	"context"
	"crypto/hpke"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/digital-embassy/embassy/internal/attest"
	"github.com/digital-embassy/embassy/internal/broker"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/keys"
)

// Attester produces evidence carrying reportData.
type Attester interface {
	Quote(reportData []byte) ([]byte, error)
}

// DeviceAttester produces device (GPU) evidence bound to reportData: one
// attest envelope per device (internal/attest/gpu implements it).
type DeviceAttester interface {
	Quote(reportData []byte) ([]attest.Envelope, error)
}

// Client talks to a broker's native API.
type Client struct {
	URL  string // https://host:port
	HTTP *http.Client
	TEE  string
	Home string // the home id the broker binds into the wrap
	// Devices, when set, adds GPU evidence bound to the same report data:
	// the release request then carries composite evidence (CPU TEE + GPUs).
	Devices DeviceAttester
}

// NewClient returns a client trusting the broker certificates signed by roots.
func NewClient(url, tee, home string, tlsConf *tls.Config) *Client {
	return &Client{URL: url, TEE: tee, Home: home,
		HTTP: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf}}}
}

// ErrRefused wraps a broker refusal.
var ErrRefused = errors.New("the broker refused to release the key")

func (c *Client) post(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return hint.Wrap(fmt.Errorf("broker %s: %w", c.URL, err), "check --broker and that 'embassy broker serve' runs there; --ca must be the home's CA certificate")
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var ae broker.APIError
		if json.Unmarshal(body, &ae) == nil && ae.Code != "" {
			err := fmt.Errorf("%w: %s: %s", ErrRefused, ae.Code, ae.Detail)
			if ae.Code == "no-dataset" {
				err = hint.Wrap(err, "check the dataset name with the home's operator; a shredded dataset's keys are gone for good")
			}
			return hint.WithCode(err, hint.CodeDamaged)
		}
		return fmt.Errorf("broker %s: %s", path, resp.Status)
	}
	return json.Unmarshal(body, out)
}

// Fetch runs one release: challenge, key pair, evidence, release, unwrap.
// The returned bundle's secrets are the caller's to Wipe.
func (c *Client) Fetch(ctx context.Context, a Attester, dataset string) (*broker.KeyBundle, string, error) {
	var ch broker.Challenge
	if err := c.post(ctx, "/v1/challenge", broker.ChallengeRequest{TEE: c.TEE}, &ch); err != nil {
		return nil, "", err
	}
	priv, err := hpke.MLKEM768X25519().GenerateKey()
	if err != nil {
		return nil, "", err
	}
	pub := priv.PublicKey().Bytes()
	ev, err := a.Quote(broker.ReportData(ch.Nonce, pub))
	if err != nil {
		return nil, "", fmt.Errorf("evidence: %w", err)
	}
	additional, err := c.deviceEvidence(broker.ReportData(ch.Nonce, pub))
	if err != nil {
		return nil, "", err
	}
	var resp broker.ReleaseResponse
	rq := broker.ReleaseRequest{Session: ch.Session, Dataset: dataset, TEE: c.TEE, Evidence: ev, PubKey: pub, Additional: additional}
	if err := c.post(ctx, "/v1/release", rq, &resp); err != nil {
		return nil, "", err
	}
	plain, err := keys.Unwrap(priv, broker.WrapInfo(c.Home, dataset, ch.Session), resp.Wrapped)
	if err != nil {
		return nil, "", fmt.Errorf("unwrap released key: %w (is --home-id the broker's home?)", err)
	}
	defer clear(plain)
	kb, err := broker.ParseKeyBundle(plain)
	if err != nil {
		return nil, "", err
	}
	if kb.Dataset != dataset || (c.Home != "" && kb.Home != c.Home) {
		kb.Wipe()
		return nil, "", fmt.Errorf("the broker released keys of %s/%s, not %s", kb.Home, kb.Dataset, dataset)
	}
	return kb, resp.Token, nil
}

// deviceEvidence returns the devices' evidence for reportData as the JSON
// array the broker's composite verifier takes, or "" without devices.
func (c *Client) deviceEvidence(reportData []byte) (string, error) {
	if c.Devices == nil {
		return "", nil
	}
	envs, err := c.Devices.Quote(reportData)
	if err != nil {
		return "", fmt.Errorf("GPU evidence: %w", err)
	}
	if len(envs) == 0 {
		return "", nil
	}
	b, err := json.Marshal(envs)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// LoadInfo asks the broker for its home id (bound into every wrap); the
// connection is authenticated by the home's CA.
func (c *Client) LoadInfo(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+"/v1/info", nil)
	if err != nil {
		return err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return hint.Wrap(fmt.Errorf("broker %s: %w", c.URL, err), "check --broker and that 'embassy broker serve' runs there; --ca must be the home's CA certificate")
	}
	defer resp.Body.Close()
	var in broker.Info
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&in); err != nil {
		return fmt.Errorf("broker info: %w", err)
	}
	c.Home = in.Home
	return nil
}
