package tlog

import (
	"strconv"
	"strings"
	"time"
)

// Entry builders of the service layer's scheduler (vault.Scheduler) and
// of the configuration history.

// Jobs of the scheduler, the "job" detail of a KindJob entry.
const (
	JobAgreements = "agreements" // agreement expiry and review (framework requirement 1)
	JobInventory  = "inventory"  // data at sites against the declared inventory (requirement 9)
	JobIntegrity  = "integrity"  // verification and state comparison with a third location (requirement 10)
	JobConfig     = "config"     // configuration history (requirement 24)
	JobHost       = "host"       // access requests and incidents pulled from the daemons, escalation (22, 23)
	JobUpdates    = "updates"    // the daemons' builds against the approved set (16)
	JobSLA        = "sla"        // availability probes of the host sites (26)
	JobCompute    = "compute"    // compute reservations against the sites' capacity (30)
	JobLocation   = "location"   // location evidence of the daemon sites (8)
)

// JobFacts describe one finished run of a scheduled job.
type JobFacts struct {
	Job     string
	Slot    time.Time // the run's due time: a run repeated after a crash carries the same slot
	OK      bool      // the job found nothing to alert on
	Alerts  int       // alerts raised by this run
	Summary string    // one line: what was checked, what was found
	Details map[string]string
}

// JobEntry is the entry of a finished scheduled job run.
func JobEntry(f JobFacts) Entry {
	d := map[string]string{"job": f.Job, "ok": strconv.FormatBool(f.OK), "alerts": strconv.Itoa(f.Alerts),
		"slot": f.Slot.UTC().Format(time.RFC3339Nano)}
	if f.Summary != "" {
		// one line: a joined error's lines are joined with "; " (the log
		// refuses control characters), cut on a rune boundary
		s := strings.NewReplacer("\r\n", "; ", "\n", "; ", "\r", " ", "\x00", "").Replace(f.Summary)
		if len(s) > 1000 {
			s = strings.ToValidUTF8(s[:1000], "")
		}
		d["summary"] = s
	}
	for k, v := range f.Details {
		if _, taken := d[k]; !taken && len(d) < maxDetails {
			d[k] = v
		}
	}
	return Entry{Kind: KindJob, Object: f.Job, Details: d}
}

// ConfigChangeEntry is the entry of a configuration file whose content
// changed: name is its path in the home ("embassy.yaml", "policy.yaml",
// "agreements/x.yaml"), digest the hex SHA-256 of its new content ("" when
// the file was removed).
func ConfigChangeEntry(name, digest string, size int64) Entry {
	d := map[string]string{"file": name, "size": strconv.FormatInt(size, 10)}
	if digest == "" {
		d["removed"] = "true"
	} else {
		d["digest"] = digest
	}
	return Entry{Kind: KindConfigChange, Object: name, Details: d}
}
