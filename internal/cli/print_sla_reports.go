package cli

import (
	"github.com/digital-embassy/embassy/internal/sla"
	"github.com/digital-embassy/embassy/internal/vault"
)

// printSLAProbes is the output of 'embassy sla probe': JSON (an empty list
// rather than null) or one line a site; err, the probe's, is returned as is.
func printSLAProbes(e *env, ps []sla.Probe, err error) error {
	if err != nil {
		return err
	}
	if e.json {
		if ps == nil {
			ps = []sla.Probe{}
		}
		return e.emitJSON(ps)
	}
	for _, p := range ps {
		if p.Up {
			e.printf("%s: up\n", p.Site)
		} else {
			e.printf("%s: DOWN: %s\n", p.Site, p.Error)
		}
	}
	return nil
}

// printSLAReports is the output of 'embassy sla report': a breach in any
// report makes the command exit 3 (e.warned); err, the report's, is
// returned as is.
func printSLAReports(e *env, rs []vault.SLAResult, err error) error {
	if err != nil {
		return err
	}
	for _, r := range rs {
		if len(r.Report.Breaches) > 0 {
			e.warned = true
		}
	}
	if e.json {
		if rs == nil {
			rs = []vault.SLAResult{}
		}
		return e.emitJSON(rs)
	}
	if len(rs) == 0 {
		e.printf("no installed agreement has sites to report on\n")
	}
	for _, r := range rs {
		printSLA(e, r)
	}
	return nil
}

// printSLAVerified is the output of 'embassy sla verify FILE'; err, the
// verification's, is returned as is.
func printSLAVerified(e *env, rep *sla.Report, file string, err error) error {
	if err != nil {
		return err
	}
	if e.json {
		return e.emitJSON(rep)
	}
	printSLA(e, vault.SLAResult{Report: rep, File: file})
	return nil
}
