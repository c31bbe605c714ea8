package vault

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"log/slog"
	"time"

	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/failover"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/location"
)

// LoadPlan reads a continuity plan, pins it to expect (--expect-home, when
// given, overrides the plan's home: field) and loads its custodians'
// identities plus the extra identity files. A plan that cannot be read
// and a plan without any identity are usage errors.
func LoadPlan(path, expect string, extra []string, pass Passphrase) (*failover.Plan, []repo.IdentitySource, error) {
	p, err := failover.LoadPlan(path)
	if err != nil {
		return nil, nil, hint.WithCode(err, hint.CodeUsage)
	}
	if expect != "" {
		p.Home = expect
	}
	ids, err := LoadIdentities(append(append([]string(nil), p.Custodians...), extra...), pass)
	if err == nil && len(ids) == 0 {
		err = hint.WithCode(fmt.Errorf("no custodian identities: list them in the plan (custodians:) or give --identity FILE"), hint.CodeUsage)
	}
	return p, ids, err
}

// ReportCheckRequest says how to check a signed report.
type ReportCheckRequest struct {
	// Key, if set, is the expected signing or root public key (base64).
	Key string
	// Site, if set, is a site of the report's home whose signed key
	// epochs the endorsement is checked against.
	Site string
	// Local is this machine's home (nil: none); without Site its key
	// epochs are used when its id is the report's home.
	Local  *Vault
	Logger *slog.Logger
}

// CheckedReport is a report whose signature (and endorsement) verified.
type CheckedReport struct {
	*evidence.Verified
	Body map[string]any // the signed body, decoded
}

// CheckReport verifies a drill, activation or deactivation report: its
// signature, its endorsement by the home's root signing key, that key's
// epoch against the home's verified key epochs (checkReportEpoch) and
// req.Key. Every refusal is exit 3 (hint.CodeDamaged).
func CheckReport(ctx context.Context, b []byte, req ReportCheckRequest) (*CheckedReport, error) {
	d, err := evidence.Parse(b)
	if err != nil {
		return nil, hint.WithCode(err, hint.CodeDamaged)
	}
	v, err := evidence.Verify(d, repo.HomeIDFor)
	if err != nil {
		return nil, hint.WithCode(hint.Wrap(err, "the report was altered or is not an embassy report"), hint.CodeDamaged)
	}
	if err := checkReportEpoch(ctx, v, d, req); err != nil {
		return nil, err
	}
	if req.Key != "" && req.Key != v.Key && req.Key != v.RootKey {
		return nil, hint.WithCode(fmt.Errorf("report is signed by %s, not by %s", v.Key, req.Key), hint.CodeDamaged)
	}
	var body map[string]any
	_ = d.Decode(&body)
	return &CheckedReport{Verified: v, Body: body}, nil
}

// checkReportEpoch checks an endorsed report against the home's verified
// key epochs, read from req.Site or from req.Local when it is the same
// home: an endorsement by an epoch the home never had, or by a key after
// the next epoch replaced it, is refused (exit 3). Without either, only an
// endorsement by epoch 1 (which the home id is derived from) is accepted.
func checkReportEpoch(ctx context.Context, v *evidence.Verified, d *evidence.Document, req ReportCheckRequest) error {
	if !v.Endorsed {
		return nil
	}
	var r *repo.Repo
	var err error
	switch {
	case req.Site != "":
		b, oerr := location.Open(ctx, req.Site, site.Properties{Name: "report-check", Jurisdiction: "ZZ"}, location.Options{})
		if oerr != nil {
			return hint.Wrap(fmt.Errorf("site %s: %w", req.Site, oerr), "check the URL and that the site is reachable")
		}
		defer b.Close()
		r, err = repo.Open(ctx, repo.Options{Home: v.Home, Sites: []*repo.Site{{Name: "report-check", Backend: b}}, Logger: req.Logger})
	case req.Local != nil && req.Local.Home.Config.Home == v.Home:
		r, err = req.Local.OpenRepo(ctx, false)
		if err == nil {
			defer closeSites(r)
		}
	}
	if err != nil {
		return hint.WithCode(fmt.Errorf("read the key epochs of home %s: %w", v.Home, err), hint.CodeDamaged)
	}
	if r == nil {
		if v.HomeBound {
			return nil
		}
		return hint.WithCode(hint.Wrap(fmt.Errorf("report is endorsed by home %s key epoch %d, which cannot be checked here: %w", v.Home, v.Epoch, evidence.ErrSignature),
			"give --site URL of a site of that home so that its signed key epochs can be checked"), hint.CodeDamaged)
	}
	epochs := map[uint32]evidence.EpochKey{}
	for n, ep := range r.Epochs() {
		pub, _ := base64.StdEncoding.DecodeString(ep.SignKey)
		epochs[n] = evidence.EpochKey{Key: ed25519.PublicKey(pub), Created: ep.Created}
	}
	var body struct {
		Started time.Time `json:"started"`
		Time    time.Time `json:"time"`
	}
	_ = d.Decode(&body)
	made := body.Started
	if made.IsZero() {
		made = body.Time
	}
	if err := evidence.CheckEpoch(v, made, epochs); err != nil {
		return hint.WithCode(hint.Wrap(err, "the report was not endorsed by a key the home held at the time: do not trust it"), hint.CodeDamaged)
	}
	return nil
}
