// Package drill runs restore drills: from nothing but the sites and k
// custodian identities it rebuilds the key, restores a plan's critical
// datasets, starts the registry lookup service on them, probes it over
// HTTP, and writes a signed report with the measured RTO and achieved RPO
// against the plan's targets.
package drill

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/failover"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/operate"
	"github.com/digital-embassy/embassy/internal/repo"
)

// Report is the body of a signed drill report.
type Report struct {
	Plan        string               `json:"plan"`
	Home        string               `json:"home,omitempty"`
	Host        string               `json:"host"`
	Started     time.Time            `json:"started"`
	Finished    time.Time            `json:"finished"`
	Pass        bool                 `json:"pass"`
	RTOTarget   float64              `json:"rto_target_seconds"`
	RTOMeasured float64              `json:"rto_measured_seconds"` // -1: no probe succeeded
	Datasets    []*failover.Restored `json:"datasets"`
	Checks      []failover.Check     `json:"checks"`
	Failures    []string             `json:"failures,omitempty"`
	Custodians  []string             `json:"custodians_used,omitempty"`
}

// Options tune a drill.
type Options struct {
	Scratch string // where to restore (a fresh temporary folder if empty)
	Keep    bool   // keep the scratch folder
	Log     *slog.Logger
	Now     func() time.Time
	// Gate is the policy asked before every restore (failover.Options).
	Gate failover.Gate
	// OnUnwrap is told of every dataset key record unwrapped (failover.Options).
	OnUnwrap func(ctx context.Context, us []repo.Unwrap)
}

// derivedLabel is the HKDF label of the drill signing key.
const derivedLabel = "embassy.v1 drill report"

// Run runs the drill of plan p with the custodian identities ids and
// returns the signed report. An error means the report could not be
// produced; a failed drill is a report with Pass false.
func Run(ctx context.Context, p *failover.Plan, ids []repo.IdentitySource, o Options) (*evidence.Document, *Report, error) {
	if o.Now == nil {
		o.Now = time.Now //nolint:forbidigo // default clock; entry points pass theirs
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	start := o.Now()
	host, _ := os.Hostname()
	rep := &Report{Plan: p.Name, Host: host, Started: start.UTC(), RTOTarget: p.RTO.Seconds(), RTOMeasured: -1}
	scratch := o.Scratch
	if scratch == "" {
		scratch = p.Scratch
	}
	if scratch == "" {
		d, err := os.MkdirTemp("", "embassy-drill-")
		if err != nil {
			return nil, nil, err
		}
		scratch = d
		if !o.Keep {
			defer os.RemoveAll(d)
		}
	}
	env, rerr := failover.Rebuild(ctx, p, ids, failover.Options{Scratch: scratch, Log: o.Log, Now: o.Now, Gate: o.Gate, OnUnwrap: o.OnUnwrap})
	defer env.Close()
	var root ed25519.PrivateKey
	var endorser ed25519.PrivateKey
	var epoch uint32
	if env.Recovered != nil {
		rep.Home, rep.Custodians = env.Recovered.Home, env.Recovered.Used
		root = operate.DeriveSigner(env.Recovered.Root, derivedLabel)
		endorser, epoch = env.Recovered.Root.Signer(), env.Recovered.Root.Epoch
	}
	if rerr != nil && !env.Failed() {
		// The rebuild stopped on an error no check names (an unpinned
		// home): it is the drill's first failure, before the RTO check
		// that follows from it, so the report reads in the order the
		// checks ran.
		env.Checks = append(env.Checks, failover.Check{Check: "rebuild", Subject: p.Name, Detail: rerr.Error()})
	}
	if rerr == nil {
		if err := serveAndProbe(ctx, p, env, scratch, start, rep, o); err != nil {
			env.Checks = append(env.Checks, failover.Check{Check: "service", Subject: "registry", Detail: err.Error()})
		}
	}
	for _, pd := range p.Datasets {
		if rs := env.Restored[pd.Name]; rs != nil {
			rep.Datasets = append(rep.Datasets, rs)
		}
	}
	rep.Checks = env.Checks
	if rep.RTOMeasured >= 0 && p.RTO > 0 {
		ok := rep.RTOMeasured <= p.RTO.Seconds()
		c := failover.Check{Check: "rto", Subject: p.Name, OK: ok, Detail: fmt.Sprintf("measured %.1fs, target %s", rep.RTOMeasured, p.RTO)}
		rep.Checks = append(rep.Checks, c)
	} else if rep.RTOMeasured < 0 {
		rep.Checks = append(rep.Checks, failover.Check{Check: "rto", Subject: p.Name, Detail: "no probe succeeded: the service did not come back"})
	}
	rep.Pass = true
	for _, c := range rep.Checks {
		if !c.OK {
			rep.Pass = false
			rep.Failures = append(rep.Failures, fmt.Sprintf("%s %s: %s", c.Check, c.Subject, c.Detail))
		}
	}
	rep.Finished = o.Now().UTC()
	if p.DrillKey != "" {
		k, err := loadKey(p.DrillKey)
		if err != nil {
			return nil, rep, err
		}
		root, endorser = k, nil
	}
	if root == nil {
		return nil, rep, hint.WithCode(fmt.Errorf("drill failed before a report could be signed: %w", rerr), hint.CodeKey)
	}
	doc, err := evidence.Sign(evidence.KindDrillReport, rep, root, rep.Home, epoch, endorser)
	return doc, rep, err
}

func loadKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("drill key: %w", err)
	}
	seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("drill key %s: want a base64 32-byte Ed25519 seed", path)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func serveAndProbe(ctx context.Context, p *failover.Plan, env *failover.Env, scratch string, start time.Time, rep *Report, o Options) error {
	svc, err := env.Service(p)
	if err != nil {
		return err
	}
	defer svc.Close()
	root := env.Recovered.Root
	tok, _, err := operate.Issue(root, env.Recovered.Home, "drill", time.Hour, o.Now())
	if err != nil {
		return err
	}
	srv := &operate.Server{Service: svc, AuditPath: filepath.Join(scratch, "drill-audit.jsonl"),
		AuditKey: operate.DeriveKey(root, operate.AuditLabel), Session: "drill", Log: o.Log,
		Verify: func(s string) (*operate.Token, error) {
			return operate.Verify(s, env.Recovered.Home, operate.EpochKeys(env.Repo), o.Now())
		}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln) //nolint:errcheck // ends with ErrServerClosed when the drill closes it
	defer hs.Close()
	base := "http://" + ln.Addr().String()
	probes := p.Probes
	if len(probes) == 0 {
		return fmt.Errorf("the plan has no probes: nothing shows the service works")
	}
	for _, pr := range probes {
		code, err := get(ctx, base+"/v1/"+pr.Register+"/"+pr.Key, tok)
		c := failover.Check{Check: "probe", Subject: pr.Register + " " + pr.Key, OK: err == nil && code == http.StatusOK}
		switch {
		case err != nil:
			c.Detail = err.Error()
		case code != http.StatusOK:
			c.Detail = fmt.Sprintf("HTTP %d", code)
		default:
			if rep.RTOMeasured < 0 {
				rep.RTOMeasured = o.Now().Sub(start).Seconds()
			}
		}
		env.Checks = append(env.Checks, c)
	}
	return nil
}

func get(ctx context.Context, url, token string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // only the status matters
	resp.Body.Close()
	return resp.StatusCode, nil
}
