package cli

import (
	"github.com/digital-embassy/embassy/internal/assess"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/incident"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/vault"
)

// logEvidence feeds an assessment from the home's transparency log: the
// access disclosures recorded there, with when each access happened and
// when it was logged.
type logEvidence struct {
	ds  []assess.Disclosure
	ins []assess.Incident
}

func (l logEvidence) Disclosures() ([]assess.Disclosure, bool) { return l.ds, len(l.ds) > 0 }
func (l logEvidence) Incidents() ([]assess.Incident, bool)     { return l.ins, len(l.ins) > 0 }

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
	o := tlog.DisclosureOptions{Now: e.now()}
	if deadline, err := vault.DisclosureDeadlines(h, tlog.DefaultAllowed); err == nil {
		o.Allowed = deadline // each site's agreement's deadline
	}
	rep := tlog.Disclosures(ents, o)
	var ev logEvidence
	for _, d := range rep.Disclosures {
		ev.ds = append(ev.ds, assess.Disclosure{Site: d.Site, Accessed: d.At, Disclosed: d.Logged})
	}
	for _, in := range incident.Status(ents, e.now(), incidentHours(h)) {
		ev.ins = append(ev.ins, assess.Incident{Site: in.Site, Occurred: in.Occurred, Notified: in.Notified})
	}
	return ev
}
