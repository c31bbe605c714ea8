package cli

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/digital-embassy/embassy/internal/evidence"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/location"
)

// checkReportEpoch checks an endorsed report against the home's verified
// key epochs, read from siteURL or from this machine's home of the same id:
// an endorsement by an epoch the home never had, or by a key after the
// next epoch replaced it, is refused (exit 3). Without either, only an
// endorsement by epoch 1 (which the home id is derived from) is accepted.
func (e *env) checkReportEpoch(v *evidence.Verified, d *evidence.Document, siteURL string) error {
	if !v.Endorsed {
		return nil
	}
	var r *repo.Repo
	var err error
	switch {
	case siteURL != "":
		b, oerr := location.Open(e.ctx, siteURL, site.Properties{Name: "report-check", Jurisdiction: "ZZ"}, location.Options{})
		if oerr != nil {
			return hint.Wrap(fmt.Errorf("site %s: %w", siteURL, oerr), "check the URL and that the site is reachable")
		}
		defer b.Close()
		r, err = repo.Open(e.ctx, repo.Options{Home: v.Home, Sites: []*repo.Site{{Name: "report-check", Backend: b}}, Logger: e.log})
	default:
		dir, derr := e.homePath()
		if derr != nil || !home.Exists(dir) {
			break
		}
		h, herr := home.Open(dir)
		if herr != nil || h.Config.Home != v.Home {
			break
		}
		r, err = e.openRepo(h, false)
		if err == nil {
			defer e.closeRepo(r)
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
