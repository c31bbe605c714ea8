package vault

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/broker"
	"github.com/digital-embassy/embassy/internal/broker/verifiers"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/repo"
)

// BrokerDir is the home's broker folder: reference values, pinned
// workloads, revocations and release.yaml (docs/BROKER.md).
func BrokerDir(h *home.Home) string { return filepath.Join(h.Dir, "broker") }

// BrokerPublishers are the signing keys of every verified root epoch of r:
// reference values signed before a rotation (or a shred, which rotates)
// stay valid.
func BrokerPublishers(r *repo.Repo) []ed25519.PublicKey {
	var out []ed25519.PublicKey
	for _, ep := range r.Epochs() {
		if k, err := base64.StdEncoding.DecodeString(ep.SignKey); err == nil && len(k) == ed25519.PublicKeySize {
			out = append(out, ed25519.PublicKey(k))
		}
	}
	return out
}

// BrokerServe configures ServeBroker.
type BrokerServe struct {
	Listen string   // address to listen on ("127.0.0.1:0" for any free port)
	Hosts  []string // DNS names and IP addresses in the broker's certificate
	// BreakGlass says whether break-glass access is open at a site (read
	// from the transparency log); when it fails the access is taken as
	// open, as the policy rules for break-glass expect. Nil: always shut.
	BreakGlass func(ctx context.Context, site string) (policy.BreakGlass, error)
	// Ready is called with the address listened on before the first
	// request is served; an error stops the broker.
	Ready func(addr net.Addr) error
}

// ServeBroker runs the key broker over the vault, which must be open with
// its root key (OpenRepo with keys), until ctx ends: the native API and the
// KBS protocol over TLS 1.3 with a certificate from the home's CA, releases
// gated by the policy (ReleaseGate) and recorded in the home's log.
func (v *Vault) ServeBroker(ctx context.Context, o BrokerServe) error {
	h, r := v.Home, v.Repo
	if r == nil {
		return errors.New("broker: the vault is not open")
	}
	root, err := h.LoadRoot(r.CurrentEpoch().Epoch)
	if err != nil {
		return err
	}
	st, err := broker.NewStore(BrokerDir(h), BrokerPublishers(r))
	if err != nil {
		return err
	}
	if _, err := st.Load(); err != nil {
		return hint.Wrap(err, "fix the file named, then start again")
	}
	meta, err := v.MetaSite(ctx)
	if err != nil {
		return err
	}
	ca, err := pki.Load(filepath.Join(h.Dir, "pki"))
	if err != nil {
		return hint.Wrap(err, "create the home's CA with 'embassy pki init'")
	}
	iss, err := ca.Issue(pki.Request{Role: pki.RoleSite, Name: "broker", Hosts: o.Hosts})
	if err != nil {
		return err
	}
	pair, err := tls.X509KeyPair(iss.CertPEM, iss.KeyPEM)
	if err != nil {
		return err
	}
	l, err := v.Recorder().Open(ctx)
	if err != nil {
		return err
	}
	defer l.Close(context.WithoutCancel(ctx))
	rec := broker.NewTlogRecorder(context.WithoutCancel(ctx), l, v.log)
	defer func() { _ = rec.Wait() }()
	var reopened []*repo.Repo // vault views opened after a rotation (guarded by VaultKeys)
	defer func() {
		for _, nr := range reopened {
			closeSites(nr)
		}
	}()
	classes := &classCache{v: v, m: map[string]string{}}
	var gateMu sync.Mutex
	b, err := broker.New(broker.Options{
		Home: h.Config.Home, Verifier: verifiers.Verifiers{},
		Keys: &broker.VaultKeys{Repo: r, Root: root, Meta: meta.Backend, Newest: func() uint32 {
			eps := h.Roots()
			if len(eps) == 0 {
				return 0
			}
			return eps[len(eps)-1]
		}, Reopen: func(ctx context.Context) (*repo.Repo, *keys.Root, error) {
			nr, err := v.OpenRepo(ctx, true)
			if err != nil {
				return nil, nil, err
			}
			reopened = append(reopened, nr)
			nroot, err := h.LoadRoot(nr.CurrentEpoch().Epoch)
			return nr, nroot, err
		}},
		Log: rec, Store: st, EARKey: broker.DeriveEARKey(root),
		Gate: releaseGate(func(ctx context.Context, dataset, site string) error {
			gateMu.Lock()
			defer gateMu.Unlock()
			return v.ReleaseGate(ctx, dataset, classes.of(ctx, dataset), site, o.BreakGlass)
		}),
		Sites: func(name string) (string, bool) {
			sc, _ := h.Site(name)
			if sc == nil {
				return "", false
			}
			return sc.Jurisdiction, true
		},
		Class: func(ds string) string { return classes.of(ctx, ds) },
		Updates: broker.UpdateGateFunc(func(_ context.Context, _, class string, m map[string]string) error {
			gateMu.Lock()
			defer gateMu.Unlock()
			return v.CheckReleaseMeasurements(class, m) // update.go: requirement 16
		}),
		Logger: v.log,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return hint.WithCode(err, hint.CodeUsage)
	}
	srv := &http.Server{Handler: b.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{pair}, CurvePreferences: pki.CurvePreferences}}
	if o.Ready != nil {
		if err := o.Ready(ln.Addr()); err != nil {
			ln.Close()
			return err
		}
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
		}
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return ctx.Err()
}

type releaseGate func(ctx context.Context, dataset, site string) error

func (g releaseGate) AllowRelease(ctx context.Context, dataset, site string) error {
	return g(ctx, dataset, site)
}

// ReleaseGate asks the vault's policy engine whether the key of dataset (of
// class) may be released at siteName to an attested workload. breakGlass
// (nil: shut) says whether break-glass access is open there; when it fails
// the access is taken as open. A denial is a *Denial (rule ids, reasons),
// kept in the gate's decisions but not logged here: the broker logs every
// release and refusal itself (key.release, key.refuse).
func (v *Vault) ReleaseGate(ctx context.Context, dataset, class, siteName string, breakGlass func(context.Context, string) (policy.BreakGlass, error)) error {
	sc, _ := v.Home.Site(siteName)
	if sc == nil {
		return fmt.Errorf("site %s is not in the registry", siteName)
	}
	g, err := v.Gate()
	if err != nil {
		return err
	}
	var bg policy.BreakGlass
	if breakGlass != nil {
		var err error
		if bg, err = breakGlass(ctx, siteName); err != nil {
			bg.Open = true // unreadable log: taken as open
		}
	}
	d := g.decide(ctx, policy.Request{Action: policy.KeyRelease, Dataset: policy.Dataset{Name: dataset, Class: class},
		Site: g.Site(*sc), Attested: true, BreakGlass: bg.Open}, false)
	if !d.Allow {
		return &Denial{d} // structured: the broker's refusal names the rule ids
	}
	return nil
}

// classCache remembers each dataset's class for one broker run (a class
// is read from the dataset's snapshots; a failed read is tried again).
type classCache struct {
	v  *Vault
	mu sync.Mutex
	m  map[string]string
}

func (c *classCache) of(ctx context.Context, ds string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.m[ds]; ok {
		return cl
	}
	cl, err := c.v.ClassOfDataset(ctx, ds)
	if err == nil {
		c.m[ds] = cl
	}
	return cl
}
