package broker

import (
	"context"
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// Options configure a Broker.
type Options struct {
	Home     string // the home's id, bound into every wrap and token
	Verifier Verifier
	Keys     KeySource
	Log      Recorder
	Store    *Store
	Gate     Gate                                             // optional
	Updates  UpdateGate                                       // optional: update control (update.go)
	EARKey   ed25519.PrivateKey                               // signs attestation results
	Sites    func(name string) (jurisdiction string, ok bool) // the home's site registry
	Class    func(dataset string) string                      // a dataset's class ("" if none)
	Now      func() time.Time
	Logger   *slog.Logger
}

// Broker releases dataset keys to attested workloads.
type Broker struct {
	o  Options
	ss *sessions
	m  *brokerMetrics
}

// New returns a broker.
func New(o Options) (*Broker, error) {
	if o.Verifier == nil || o.Keys == nil || o.Log == nil || o.Store == nil || o.EARKey == nil {
		return nil, errors.New("broker: verifier, keys, log, store and EAR key are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Sites == nil {
		o.Sites = func(string) (string, bool) { return "", true }
	}
	if o.Class == nil {
		o.Class = func(string) string { return "" }
	}
	return &Broker{o: o, ss: newSessions(), m: newBrokerMetrics()}, nil
}

// EARPublicKey is the public key that verifies the broker's tokens.
func (b *Broker) EARPublicKey() ed25519.PublicKey { return b.o.EARKey.Public().(ed25519.PublicKey) }

// Refusal is a release the broker refused, with a stable code (logged as
// the entry's reason) and the detail shown to the workload and the log.
type Refusal struct {
	Code   string // session, replay, request, evidence, binding, identity, revoked, policy, no-rule, update, key, log
	Detail string
}

func (r *Refusal) Error() string { return "refused (" + r.Code + "): " + r.Detail }

func refuse(code string, format string, a ...any) *Refusal {
	return &Refusal{Code: code, Detail: fmt.Sprintf(format, a...)}
}

// Challenge opens a session for a workload on tee.
type Challenge struct {
	Session string `json:"session"`
	Nonce   []byte `json:"nonce"`
}

// Challenge returns a fresh single-use nonce.
func (b *Broker) Challenge(tee string) (Challenge, error) {
	ss, err := b.ss.open(tee, b.o.Now())
	if err != nil {
		return Challenge{}, err
	}
	return Challenge{Session: ss.id, Nonce: ss.nonce}, nil
}

// verify checks evidence presented on session id, bound to bind (the
// workload's public key, or KBS runtime data), and pins its identity.
// expect computes the report data the evidence must carry from the
// session's nonce.
func (b *Broker) verify(id, tee string, evidence []byte, additional string, expect func(nonce []byte) []byte, keep bool) (*session, Claims, Workload, *Refusal) {
	now := b.o.Now()
	ss, err := b.ss.consume(id, evidence, keep, now)
	if err != nil {
		if errors.Is(err, errReplay) {
			return nil, Claims{}, Workload{}, refuse("replay", "%v", err)
		}
		return nil, Claims{}, Workload{}, refuse("session", "%v", err)
	}
	if tee != ss.tee {
		return ss, Claims{}, Workload{}, refuse("request", "evidence is for TEE %s but the challenge was for %s", tee, ss.tee)
	}
	want := expect(ss.nonce)
	if len(evidence) > maxKBSBody {
		return ss, Claims{}, Workload{}, refuse("request", "evidence is larger than %d bytes", maxKBSBody)
	}
	var c Claims
	if additional == "" {
		c, err = b.o.Verifier.Verify(tee, evidence, want, now)
	} else if cv, ok := b.o.Verifier.(CompositeVerifier); ok {
		c, err = cv.VerifyComposite(tee, evidence, additional, want, now)
	} else {
		err = errors.New("the evidence includes device (GPU) evidence, which this broker's verifier cannot check; nothing is released on unverified parts")
	}
	if err != nil {
		return ss, Claims{}, Workload{}, refuse("evidence", "%v", err)
	}
	if c.TEE == "" {
		c.TEE = tee
	}
	if subtle.ConstantTimeCompare(c.ReportData, want) != 1 {
		return ss, c, Workload{}, refuse("binding", "the evidence's report data does not bind this challenge's nonce and the presented key")
	}
	st, err := b.o.Store.Load()
	if err != nil {
		return ss, c, Workload{}, refuse("state", "broker state: %v", err)
	}
	ident := c.Measurements[identityClaim(tee)]
	for _, w := range st.Workloads {
		if w.Identity != "" && w.Identity == ident {
			return ss, c, w, nil
		}
	}
	return ss, c, Workload{Identity: ident}, refuse("identity", "workload identity %s is not pinned: register it with 'embassy broker workload add NAME --identity %s --site SITE'", short(ident), ident)
}

// identityClaim names the measurement that identifies the attester.
func identityClaim(tee string) string {
	switch tee {
	case "tpm", "tpm-sim":
		return "tpm.ak"
	case "snp", "az-snp-vtpm":
		return "snp.chip_id"
	case "tdx", "az-tdx-vtpm":
		return "tdx.mrsigner"
	}
	return tee + ".identity"
}

// release decides whether dataset may go to the workload and, if so,
// fetches its keys and hands them to wrap, then logs the release. Every
// refusal is logged too. Nothing is returned before the log entry is durable.
func (b *Broker) release(ctx context.Context, tee string, c Claims, w Workload, dataset string,
	wrap func(plain []byte) error) (*KeyBundle, decision, *Refusal) {
	now := b.o.Now().UTC()
	st, err := b.o.Store.Load()
	if err != nil {
		return nil, decision{}, refuse("state", "broker state: %v", err)
	}
	jur, known := b.o.Sites(w.Site)
	if !known {
		return nil, decision{}, refuse("identity", "workload %s is pinned to site %s, which is not in the home's registry", w.Name, w.Site)
	}
	rq := request{Dataset: dataset, Class: b.o.Class(dataset), TEE: tee, Site: w.Site, Jurisdiction: jur,
		Workload: w, Measurements: c.all(), Hour: now.Hour()}
	d := st.decide(rq)
	if !d.Allow {
		return nil, d, refuse(d.Code, "%s", strings.Join(d.Reasons, "; "))
	}
	if b.o.Updates != nil {
		if err := b.o.Updates.AllowMeasurements(ctx, dataset, rq.Class, rq.Measurements); err != nil {
			return nil, d, refuse("update", "%v", err)
		}
	}
	if b.o.Gate != nil {
		if err := b.o.Gate.AllowRelease(ctx, dataset, w.Site); err != nil {
			return nil, d, refuse("policy", "vault policy: %v", err)
		}
	}
	kb, err := b.o.Keys.DatasetKey(ctx, dataset)
	if err != nil {
		if err == ErrNoDataset { // a KeySource's bare sentinel: name the dataset
			return nil, d, refuse("no-dataset", "dataset %s is unknown or shredded", dataset)
		}
		if errors.Is(err, ErrNoDataset) { // says which dataset or key version
			return nil, d, refuse("no-dataset", "%v", err)
		}
		return nil, d, refuse("key", "dataset %s keys: %v", dataset, err)
	}
	plain, err := json.Marshal(kb)
	if err != nil {
		kb.Wipe()
		return nil, d, refuse("key", "%v", err)
	}
	defer clear(plain)
	if err := wrap(plain); err != nil {
		kb.Wipe()
		return nil, d, refuse("request", "wrap to the workload's key: %v", err)
	}
	ent := b.entry(KindKeyRelease, tee, c, w, dataset, "", d)
	ent.Object = fmt.Sprintf("v%d", kb.Current)
	if err := b.o.Log.Record(ctx, ent); err != nil {
		kb.Wipe()
		return nil, d, refuse("log", "not released: the release could not be logged: %v", err)
	}
	b.m.released.WithLabelValues(b.m.tee(tee)).Inc()
	b.o.Logger.InfoContext(ctx, "key released", "dataset", dataset, "workload", w.Name, "site", w.Site, "rule", d.Rule)
	return kb, d, nil
}

// entry builds a log entry for a release or a refusal.
func (b *Broker) entry(kind, tee string, c Claims, w Workload, dataset, code string, d decision) tlog.Entry {
	det := map[string]string{
		"tee":          tee,
		"measurements": MeasurementsDigest(c.all()),
		"workload":     w.Name,
		"identity":     short(w.Identity),
		"initiator":    "workload",
	}
	if d.Rule != "" {
		det["rule"] = d.Rule
	}
	if len(d.Refs) > 0 {
		det["refs"] = strings.Join(d.Refs, ",")
	}
	for k, v := range det {
		if v == "" {
			delete(det, k)
		}
	}
	return tlog.Entry{V: tlog.Version, Kind: kind, Time: b.o.Now().UTC(), Home: b.o.Home, Actor: "broker",
		Dataset: dataset, Site: w.Site, Reason: code, Details: det}
}

// logRefusal records a refusal; a failure to log is returned alongside.
func (b *Broker) logRefusal(ctx context.Context, tee string, c Claims, w Workload, dataset string, r *Refusal) *Refusal {
	ent := b.entry(KindKeyRefuse, tee, c, w, dataset, r.Code, decision{})
	d := r.Detail
	if len(d) > 1000 {
		d = d[:1000]
	}
	ent.Details["detail"] = strings.ToValidUTF8(strings.Map(func(r rune) rune {
		if r < 0x20 {
			return ' '
		}
		return r
	}, d), "?")
	if err := b.o.Log.Record(ctx, ent); err != nil {
		b.o.Logger.ErrorContext(ctx, "refusal not logged", "err", err)
		r.Detail += " (and the refusal could not be logged: " + err.Error() + ")"
	}
	b.m.refused.WithLabelValues(r.Code, b.m.tee(tee)).Inc()
	b.o.Logger.InfoContext(ctx, "key refused", "dataset", dataset, "code", r.Code, "detail", r.Detail)
	return r
}

// ReleaseRequest is the native API's request for a dataset's keys.
type ReleaseRequest struct {
	Session  string `json:"session"`
	Dataset  string `json:"dataset"`
	TEE      string `json:"tee"`
	Evidence []byte `json:"evidence"`
	PubKey   []byte `json:"pubkey"` // X-Wing (MLKEM768-X25519) public key, 1216 bytes
	// Additional is device (GPU) evidence: a JSON array of attest
	// envelopes bound to the same report data; every one must pass.
	Additional string `json:"additional,omitempty"`
}

// ReleaseResponse carries the wrapped key bundle and the attestation result.
type ReleaseResponse struct {
	Dataset string `json:"dataset"`
	Version uint32 `json:"version"`
	Wrapped []byte `json:"wrapped"` // HPKE X-Wing to PubKey, info WrapInfo(...)
	Token   string `json:"token"`   // EAR
}

// WrapInfo is the HPKE info of a native release.
func WrapInfo(home, dataset, session string) []byte {
	return []byte("embassy.broker.v1 release " + home + " " + dataset + " " + session)
}

// xwingPubSize is the size of an MLKEM768-X25519 public key.
const xwingPubSize = 1216

// Release answers a native release request.
func (b *Broker) Release(ctx context.Context, rq ReleaseRequest) (*ReleaseResponse, error) {
	if err := validDataset(rq.Dataset); err != nil {
		return nil, b.logRefusal(ctx, rq.TEE, Claims{}, Workload{}, "", refuse("request", "%v", err))
	}
	if len(rq.PubKey) != xwingPubSize {
		return nil, b.logRefusal(ctx, rq.TEE, Claims{}, Workload{}, rq.Dataset,
			refuse("request", "pubkey is %d bytes: want an X-Wing (MLKEM768-X25519) public key of %d bytes", len(rq.PubKey), xwingPubSize))
	}
	ss, c, w, r := b.verify(rq.Session, rq.TEE, rq.Evidence, rq.Additional, func(n []byte) []byte { return ReportData(n, rq.PubKey) }, false)
	if r != nil {
		return nil, b.logRefusal(ctx, rq.TEE, c, w, rq.Dataset, r)
	}
	var wrapped []byte
	kb, d, r := b.release(ctx, rq.TEE, c, w, rq.Dataset, func(plain []byte) error {
		var err error
		wrapped, err = keys.Wrap(rq.PubKey, WrapInfo(b.o.Home, rq.Dataset, rq.Session), plain)
		return err
	})
	if r != nil {
		return nil, b.logRefusal(ctx, rq.TEE, c, w, rq.Dataset, r)
	}
	defer kb.Wipe()
	tok, err := b.token(rq.TEE, c, w, d, ss.nonce, nil)
	if err != nil {
		return nil, err
	}
	return &ReleaseResponse{Dataset: rq.Dataset, Version: kb.Current, Wrapped: wrapped, Token: tok}, nil
}

func (b *Broker) token(tee string, c Claims, w Workload, d decision, nonce []byte, keyAttest map[string]any) (string, error) {
	now := b.o.Now()
	ev := map[string]string{}
	for k, v := range c.all() {
		ev[k] = v
	}
	pid := "embassy:release"
	if d.Rule != "" {
		pid += "/" + d.Rule
	}
	e := EAR{Profile: EARProfile, IssuedAt: now.Unix(), Expires: now.Add(SessionTTL).Unix(),
		Nonce:      base64.RawURLEncoding.EncodeToString(nonce),
		VerifierID: EARVerifier{Developer: "digital-embassy", Build: "embassy broker"},
		Submods: map[string]EARAppraisal{tee: {Status: earAffirming, PolicyID: pid, Evidence: ev, KeyAttest: keyAttest,
			Vector: map[string]int{"instance-identity": 2, "executables": 2, "hardware": 2}}},
		Home: b.o.Home, Workload: w.Name, Site: w.Site}
	return signEAR(b.o.EARKey, e)
}

func validDataset(name string) error {
	if name == "" || len(name) > 64 || !printable(name) || strings.ContainsAny(name, " /\"\\") {
		return fmt.Errorf("dataset name %q is not valid", name)
	}
	return nil
}
