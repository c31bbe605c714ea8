package vault

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/failover"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/operate"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/location"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// Activation is the signed crisis-activation statement.
type Activation struct {
	Session     string            `json:"session"`
	Home        string            `json:"home"`
	Fingerprint string            `json:"fingerprint,omitempty"` // what a deactivation quorum signs
	Epoch       uint32            `json:"epoch"`
	Reason      string            `json:"reason"`
	Declared    time.Time         `json:"declared"`
	Threshold   int               `json:"threshold"`
	Custodians  []string          `json:"custodians"` // recipients of the custodians whose shares rebuilt the root
	Sites       []string          `json:"sites"`
	Datasets    map[string]string `json:"datasets"` // dataset -> snapshot served
	Listen      string            `json:"listen"`
}

// Deactivation is the signed report of what was served.
type Deactivation struct {
	Session          string         `json:"session"`
	Home             string         `json:"home"`
	ActivationSHA256 string         `json:"activation_sha256"`
	Activated        time.Time      `json:"activated"`
	Deactivated      time.Time      `json:"deactivated"`
	By               string         `json:"deactivated_by"` // official with a deactivate token, "custodians 1,3", or "signal"
	Served           operate.Served `json:"served"`
	AuditSHA256      string         `json:"audit_sha256"`
}

const sessionLabel = "embassy.v1 operate session"

// maxRefusalsLogged bounds the refused deactivations of one session that
// are journalled and logged (all are audited).
const maxRefusalsLogged = 32

// OperateRequest is a crisis to declare.
type OperateRequest struct {
	Plan       *failover.Plan
	Identities []repo.IdentitySource
	Dir        string // restored data, audit log and signed reports
	Listen     string
	Reason     string
	TLS        *tls.Config // nil: plain HTTP (the CLI allows it on loopback only)
	Revoked    string      // signed revocation list, re-read on change
	// CRL, with TLS requiring client certificates, is the home CA's
	// revocation list: checked on every request too (TLS checks it at the
	// handshake), each refusal journalled and logged.
	CRL *pki.Revocations
}

// OperateSession is an active crisis session, as reported once serving.
type OperateSession struct {
	Session          string
	Addr             string
	Scheme           string
	Activation       string // path of the signed activation
	ActivationSHA256 string
	Datasets         int
	Elapsed          time.Duration
}

// OperateResult is an ended crisis session.
type OperateResult struct {
	Session string
	By      string
	Served  operate.Served
	Report  string // path of the signed deactivation
	SHA256  string
}

// Operate declares a crisis: rebuilds the plan's services (policy gate and
// freshness as in a drill), signs the activation, serves the registries
// read-only to officials' tokens until a deactivate-role token, a
// custodian quorum (operate.VerifyQuorum) or ctx ends it, and signs the
// deactivation report. started is called once serving.
func (c *Continuity) Operate(ctx context.Context, req OperateRequest, started func(OperateSession)) (*OperateResult, error) {
	if err := os.MkdirAll(req.Dir, 0o700); err != nil {
		return nil, err
	}
	gate, err := c.Gate(req.Plan)
	if err != nil {
		return nil, err
	}
	start := c.Opts.Clock()
	onUnwrap, flush := c.unwraps("operate")
	env, err := failover.Rebuild(ctx, req.Plan, req.Identities, failover.Options{Scratch: filepath.Join(req.Dir, "data"),
		Log: c.Opts.Logger, Now: c.Opts.Clock, Gate: gate, OnUnwrap: onUnwrap})
	if env != nil {
		defer env.Close()
		if env.Recovered != nil {
			flush(ctx, env.Recovered.Home)
		}
	}
	if err != nil {
		return nil, err
	}
	for _, ch := range env.Checks {
		if !ch.OK {
			c.warnf("%s %s: %s", ch.Check, ch.Subject, ch.Detail)
		}
	}
	svc, err := env.Service(req.Plan)
	if err != nil {
		return nil, hint.Wrap(err, "the plan's registers must be restorable to operate")
	}
	defer svc.Close()
	root, homeID := env.Recovered.Root, env.Recovered.Home
	ln, err := net.Listen("tcp", req.Listen)
	if err != nil {
		return nil, hint.WithCode(fmt.Errorf("--listen %s: %w", req.Listen, err), hint.CodeUsage)
	}
	sid := make([]byte, 8)
	_, _ = rand.Read(sid)
	session := hex.EncodeToString(sid)
	act := Activation{Session: session, Home: homeID, Fingerprint: env.Recovered.Fingerprint, Epoch: root.Epoch, Reason: req.Reason,
		Declared: start.UTC(), Threshold: env.Recovered.Threshold, Datasets: map[string]string{}, Listen: ln.Addr().String()}
	for _, src := range req.Identities {
		for _, u := range env.Recovered.Used {
			if u == src.Label && len(src.Identities) > 0 {
				act.Custodians = append(act.Custodians, keys.RecipientOf(src.Identities[0]))
			}
		}
	}
	for _, s := range env.Sites {
		if s.Backend != nil && s.Err() == nil {
			act.Sites = append(act.Sites, s.Name)
		}
	}
	for n, rs := range env.Restored {
		act.Datasets[n] = rs.Snapshot
	}
	signer := operate.DeriveSigner(root, sessionLabel)
	doc, err := evidence.Sign(evidence.KindActivation, act, signer, homeID, root.Epoch, root.Signer())
	if err != nil {
		ln.Close()
		return nil, err
	}
	actPath := filepath.Join(req.Dir, "activation.json")
	actSum, err := WriteDoc(actPath, doc)
	if err != nil {
		ln.Close()
		return nil, err
	}
	journal := evidence.Journal{Path: filepath.Join(req.Dir, EventsFile)}
	c.journal(journal, evidence.Event{Type: "activation", Home: homeID, Digest: actSum,
		Summary: fmt.Sprintf("crisis declared, session %s: %s", session, req.Reason), Fields: map[string]any{"custodians": len(act.Custodians)}})
	c.record(ctx, homeID, tlog.OperateFacts{Event: "activation", Session: session, Digest: actSum})
	auditPath := filepath.Join(req.Dir, "audit.jsonl")
	cust := QuorumCustodians(env.Repo.CurrentEpoch())
	var refusals atomic.Int64
	srv := &operate.Server{Service: svc, AuditPath: auditPath, AuditKey: operate.DeriveKey(root, operate.AuditLabel),
		Session: session, Log: c.Opts.Logger, Now: c.Opts.Clock,
		Verify: func(s string) (*operate.Token, error) {
			return operate.Verify(s, homeID, operate.CurrentEpochKey(env.Repo), c.Opts.Clock())
		},
		Quorum: func(body []byte, now time.Time) (string, error) {
			idx, err := operate.VerifyQuorum(body, cust, env.Recovered.Fingerprint, session, now)
			if err != nil {
				return "", err
			}
			return custodiansBy(idx), nil
		},
		OnRefused: func(l operate.AuditLine) {
			// Every refusal is in the audit; the journal and the home's log
			// take the first maxRefusalsLogged, so that a flood of
			// unauthenticated requests cannot flood the log.
			if refusals.Add(1) > maxRefusalsLogged {
				return
			}
			c.journal(journal, evidence.Event{Type: "deactivation-refused", Home: homeID,
				Summary: fmt.Sprintf("crisis session %s: deactivation refused (HTTP %d): %s", session, l.Status, l.Denied),
				Fields:  map[string]any{"official": l.Official, "token_id": l.TokenID}})
			c.record(ctx, homeID, tlog.OperateFacts{Event: "deactivation-refused", Session: session, By: l.Official, Reason: l.Denied})
		}}
	if req.Revoked != "" {
		srv.Revoked = &operate.Revoked{Path: req.Revoked, Home: homeID, SignKey: operate.CurrentEpochKey(env.Repo)}
		if err := srv.Revoked.Load(); err != nil {
			ln.Close()
			return nil, hint.Wrap(fmt.Errorf("revoked tokens %s: %w", req.Revoked, err), "use the list 'embassy operate token revoke' wrote, signed under the vault's current epoch")
		}
	}
	handler := srv.Handler()
	if req.TLS != nil && req.TLS.ClientCAs != nil {
		// Every refused client certificate (revoked, wrong role) is an
		// event of the session, journalled and in the home's log.
		refuse := func(id pki.Identity, remote string, err error) {
			if refusals.Add(1) > maxRefusalsLogged {
				return
			}
			c.journal(journal, evidence.Event{Type: "client-refused", Home: homeID,
				Summary: fmt.Sprintf("crisis session %s: client certificate %s refused: %v", session, id, err), Fields: map[string]any{"identity": id.String(), "remote": remote}})
			c.record(ctx, homeID, tlog.OperateFacts{Event: "client-refused", Session: session, By: id.String(), Reason: err.Error()})
		}
		tc := req.TLS.Clone()
		verify := tc.VerifyConnection
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			var err error
			if verify != nil {
				err = verify(cs)
			}
			if err != nil && len(cs.PeerCertificates) > 0 {
				id, _ := pki.Identify(cs.PeerCertificates[0])
				refuse(id, "", err)
			}
			return err
		}
		req.TLS = tc
		handler = pki.RequireUnrevoked(req.CRL, handler, func(r *http.Request, err error) {
			id, _ := pki.Identify(r.TLS.PeerCertificates[0])
			refuse(id, r.RemoteAddr, err)
		})
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, TLSConfig: req.TLS}
	scheme := "http"
	if req.TLS != nil {
		scheme = "https"
		go func() { _ = hs.ServeTLS(ln, "", "") }()
	} else {
		go func() { _ = hs.Serve(ln) }()
	}
	if err := os.WriteFile(filepath.Join(req.Dir, "addr"), []byte(ln.Addr().String()), 0o644); err != nil {
		c.warnf("write %s: %v", filepath.Join(req.Dir, "addr"), err)
	}
	if started != nil {
		started(OperateSession{Session: session, Addr: ln.Addr().String(), Scheme: scheme, Activation: actPath, ActivationSHA256: actSum,
			Datasets: len(env.Restored), Elapsed: c.Opts.Clock().Sub(start)})
	}
	by := "signal"
	select {
	case <-ctx.Done():
	case by = <-srv.Deactivated():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	_ = hs.Shutdown(sctx)
	cancel()
	deact := Deactivation{Session: session, Home: homeID, ActivationSHA256: actSum, Activated: start.UTC(),
		Deactivated: c.Opts.Clock().UTC(), By: by, Served: srv.Summary(), AuditSHA256: fileSHA256(auditPath)}
	ddoc, err := evidence.Sign(evidence.KindDeactivation, deact, signer, homeID, root.Epoch, root.Signer())
	if err != nil {
		return nil, err
	}
	dpath := filepath.Join(req.Dir, "deactivation.json")
	dsum, err := WriteDoc(dpath, ddoc)
	if err != nil {
		return nil, err
	}
	c.journal(journal, evidence.Event{Type: "deactivation", Home: homeID, Digest: dsum,
		Summary: fmt.Sprintf("crisis session %s deactivated by %s", session, by), Fields: map[string]any{"audit_lines": deact.Served.AuditLines}})
	c.record(context.WithoutCancel(ctx), homeID, tlog.OperateFacts{Event: "deactivation", Session: session, By: by, Digest: dsum})
	return &OperateResult{Session: session, By: by, Served: deact.Served, Report: dpath, SHA256: dsum}, nil
}

func (c *Continuity) journal(j evidence.Journal, ev evidence.Event) {
	if err := j.Append(ev); err != nil {
		c.warnf("event journal %s: %v", j.Path, err)
	}
}

// record writes a session event to the home's log, when this machine has
// the home the session serves.
func (c *Continuity) record(ctx context.Context, homeID string, f tlog.OperateFacts) {
	if c.Home != nil && c.Home.Home.Config.Home == homeID {
		c.Home.Recorder().Audit(ctx, tlog.OperateEntry(f))
	}
}

func custodiansBy(idx []uint16) string {
	s := make([]string, len(idx))
	sort.Slice(idx, func(i, j int) bool { return idx[i] < idx[j] })
	for i, x := range idx {
		s[i] = strconv.Itoa(int(x))
	}
	return "custodians " + strings.Join(s, ",")
}

// QuorumCustodians are the custodians of epoch ep, for operate.VerifyQuorum.
func QuorumCustodians(ep *repo.Epoch) operate.Custodians {
	c := operate.Custodians{Epoch: ep.Epoch, Threshold: ep.Threshold, Commitments: ep.Commitments, Indexes: map[uint16]string{}}
	for _, cu := range ep.Custodians {
		c.Indexes[cu.Index] = cmpOr(cu.Name, cu.Recipient)
	}
	return c
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func fileSHA256(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SignDeactivation signs, for each custodian identity in ids, the
// statement that crisis session `session` of the pinned home is to end.
// The custodian's share is opened from siteURL, whose vault must present
// fingerprint expect (a hostile site cannot make a custodian sign for
// another home: the fingerprint is in the statement).
func SignDeactivation(ctx context.Context, siteURL, expect, session string, ids []repo.IdentitySource, now time.Time) ([]operate.CustodianSignature, error) {
	if expect == "" {
		return nil, hint.WithCode(hint.Wrap(repo.ErrUnpinned, "give --expect-home with the home fingerprint you were given at init"), hint.CodeUsage)
	}
	b, err := location.Open(ctx, siteURL, site.Properties{Name: "quorum", Jurisdiction: "ZZ"}, location.Options{})
	if err != nil {
		return nil, hint.Wrap(fmt.Errorf("site %s: %w", siteURL, err), "check the URL and that the site is reachable")
	}
	defer b.Close()
	s := &repo.Site{Name: siteURL, Backend: b}
	homeID, fp, epoch, err := repo.PresentedEpoch(ctx, s)
	if err != nil {
		return nil, err
	}
	if err := repo.CheckFingerprint(siteURL, fp, expect); err != nil {
		return nil, err
	}
	var objs [][]byte
	err = b.List(ctx, site.KindKey, func(fi site.Info) error {
		raw, err := repo.ReadObject(ctx, b, fi.Handle)
		if err == nil {
			objs = append(objs, raw)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	st := operate.Statement{Fingerprint: fp, Session: session, Time: now.UTC()}
	var out []operate.CustodianSignature
	for _, src := range ids {
		signed := false
		for _, raw := range objs {
			env, err := keys.OpenShare(src.Identities, raw)
			if err != nil || env.HomeID != homeID || env.Epoch != epoch {
				continue
			}
			sig, err := operate.SignStatement(env, st)
			if err != nil {
				return nil, err
			}
			out = append(out, sig)
			signed = true
			break
		}
		if !signed {
			return nil, hint.WithCode(hint.Wrap(fmt.Errorf("identity %s opens no share of home %s key epoch %d at %s", src.Label, homeID, epoch, siteURL), "use your custodian identity of the current key epoch"), hint.CodeKey)
		}
	}
	if len(out) == 0 {
		return nil, hint.WithCode(errors.New("no custodian identity given"), hint.CodeUsage)
	}
	return out, nil
}

// OperateRevokedFile is the home's signed list of revoked operate tokens.
func OperateRevokedFile(h *home.Home) string { return filepath.Join(h.Dir, "operate-revoked.json") }

// IssueOperateToken issues an official's token for the crisis service,
// signed by the current root signing key, valid for ttl from the vault's
// clock (at most operate.MaxTTL), and records it in the events journal and
// the log. The vault must be open with keys.
func (v *Vault) IssueOperateToken(ctx context.Context, official, role string, ttl time.Duration) (string, *operate.Token, error) {
	r := v.Repo
	tok, t, err := operate.IssueRole(r.Root(), r.Home(), official, role, ttl, v.Now())
	if err != nil {
		return "", nil, err
	}
	v.journal(evidence.Event{Type: "token", Home: r.Home(),
		Summary: fmt.Sprintf("operate token %s issued to %s until %s", t.ID, official, t.Expires.Format(time.RFC3339))})
	v.Recorder().Audit(ctx, tlog.OperateTokenEntry(t.ID, official, t.RoleOf(), t.Expires))
	return tok, t, nil
}

// RevokeOperateTokens adds ids to the home's signed revocation list (a new
// epoch starts a new list: older tokens are dead anyway), records it in
// the log before the file is replaced, and writes it to OperateRevokedFile
// and, if set, to out. The vault must be open with keys.
func (v *Vault) RevokeOperateTokens(ctx context.Context, ids []string, out string) (*operate.RevocationList, error) {
	r, h := v.Repo, v.Home
	l := operate.RevocationList{Home: r.Home()}
	if b, err := os.ReadFile(OperateRevokedFile(h)); err == nil {
		old, err := operate.OpenRevocations(b, r.Home(), operate.EpochKeys(r))
		if err != nil {
			return nil, hint.Wrap(fmt.Errorf("%s: %w", OperateRevokedFile(h), err), "restore the file from a backup, or move it away to start a new list")
		}
		if old.Epoch == r.Root().Epoch {
			l.IDs, l.Number = old.IDs, old.Number
		}
	}
	l.IDs = append(l.IDs, ids...)
	l.Number++
	l.Time = v.Now()
	b, err := operate.SignRevocations(r.Root(), l)
	if err != nil {
		return nil, err
	}
	if err := v.Recorder().Append(ctx, tlog.OperateRevokeEntry(ids, l.Number, r.Root().Epoch)); err != nil {
		return nil, err
	}
	for _, p := range []string{OperateRevokedFile(h), out} {
		if p == "" {
			continue
		}
		if err := atomicfile.Write(p, b, 0o644); err != nil {
			return nil, err
		}
	}
	v.journal(evidence.Event{Type: "token", Home: r.Home(),
		Summary: fmt.Sprintf("operate tokens revoked: %s (list %d)", strings.Join(ids, ", "), l.Number)})
	return &l, nil
}

// journal appends to the home's events journal (a failure is a warning).
func (v *Vault) journal(ev evidence.Event) {
	j := evidence.Journal{Path: filepath.Join(v.Home.Dir, EventsFile)}
	if err := j.Append(ev); err != nil {
		v.Warnf("event journal %s: %v", j.Path, err)
	}
}
