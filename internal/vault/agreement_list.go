package vault

import (
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/home"
)

// AgreementRow is one installed agreement as 'agreement list' shows it:
// its parties, term, status flags and the sites hosted under it.
type AgreementRow struct {
	ID        string           `json:"id"`
	Sending   string           `json:"sending"`
	Host      string           `json:"host"`
	Status    string           `json:"status"`
	Term      agreement.Status `json:"term"`
	Overrides int              `json:"overrides"`
	Sites     []string         `json:"sites"`
	Digest    string           `json:"digest"`
}

// ListAgreements loads the home's installed agreements and describes each at
// now. flagged is true when one has expired or is overdue for review.
func ListAgreements(h *home.Home, base *agreement.Baseline, now time.Time) (rows []AgreementRow, flagged bool, err error) {
	ias, err := LoadAgreements(h, base)
	if err != nil {
		return nil, false, err
	}
	rows = []AgreementRow{}
	for _, ia := range ias {
		st := ia.StatusAt(now, base)
		r := AgreementRow{ID: ia.ID, Sending: ia.Sending().State, Host: ia.Host().State, Term: st, Overrides: len(ia.Loosenings), Sites: []string{}, Digest: ia.Digest}
		var flags []string
		switch {
		case st.Expired:
			flags = append(flags, "expired")
		case st.NotYet:
			flags = append(flags, "not yet in force")
		default:
			flags = append(flags, "active")
		}
		if st.ReviewOverdue {
			flags = append(flags, "review overdue")
		}
		flagged = flagged || st.Expired || st.ReviewOverdue
		r.Status = strings.Join(flags, ", ")
		for _, sc := range h.Config.Sites {
			if sc.Agreement == ia.ID {
				r.Sites = append(r.Sites, sc.Name)
			}
		}
		rows = append(rows, r)
	}
	return rows, flagged, nil
}
