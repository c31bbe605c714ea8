package cli

import (
	"github.com/digital-embassy/embassy/internal/assess"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// logEvidence feeds an assessment from the home's transparency log: the
// access disclosures recorded there, with when each access happened and
// when it was logged.
type logEvidence struct {
	ds []assess.Disclosure
}

func (l logEvidence) Disclosures() ([]assess.Disclosure, bool) { return l.ds, len(l.ds) > 0 }
func (l logEvidence) Incidents() ([]assess.Incident, bool)     { return nil, false }

// assessEvidence reads the log; nil when the home has no log yet.
func (e *env) assessEvidence(h *home.Home) assess.Evidence {
	r, _, err := e.readLog(h)
	if err != nil {
		return nil
	}
	_, ents, err := r.All(e.ctx)
	if err != nil {
		return nil
	}
	rep := tlog.Disclosures(ents, tlog.DisclosureOptions{Now: e.now()})
	var ev logEvidence
	for _, d := range rep.Disclosures {
		ev.ds = append(ev.ds, assess.Disclosure{Site: d.Site, Accessed: d.At, Disclosed: d.Logged})
	}
	return ev
}
