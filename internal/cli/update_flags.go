package cli

import (
	"strings"
	"time"

	"github.com/digital-embassy/embassy/internal/vault"
)

// updateApproval completes 'update approve's request from its flags:
// --artifact and --until are required, something must name what is
// approved, --until and --measurement are parsed.
func (e *env) updateApproval(rq vault.UpdateApproval, until string, ms []string) (vault.UpdateApproval, error) {
	if rq.Artifact == "" || until == "" {
		return rq, usagef("--artifact and --until are required")
	}
	if rq.Binary == "" && rq.Digest == "" && rq.SBOM == "" && len(ms) == 0 {
		return rq, usagef("name what is approved: --binary PATH, --digest SHA256, --sbom FILE or --measurement NAME:HEX")
	}
	var err error
	if rq.Until, err = parseUntil(until, e.now()); err != nil {
		return rq, err
	}
	if rq.Measurements, err = parseMeasurements(ms); err != nil {
		return rq, err
	}
	return rq, nil
}

// parseUntil accepts RFC 3339, a date (2027-01-31, 00:00 UTC) or a
// duration from now (720h, 30d).
func parseUntil(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.UTC); err == nil {
		return t, nil
	}
	d := strings.TrimPrefix(s, "+")
	if n, ok := strings.CutSuffix(d, "d"); ok {
		d = n + "h"
		if x, err := time.ParseDuration(d); err == nil {
			return now.Add(24 * x), nil
		}
	} else if x, err := time.ParseDuration(d); err == nil {
		return now.Add(x), nil
	}
	return time.Time{}, usagef("--until %q: use RFC 3339 (2027-01-31T00:00:00Z), a date (2027-01-31) or a duration from now (30d, 720h)", s)
}

// parseMeasurements reads NAME:HEX (or NAME=HEX) flags.
func parseMeasurements(ms []string) (map[string]string, error) {
	if len(ms) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, m := range ms {
		i := strings.LastIndexAny(m, ":=")
		if i <= 0 || i == len(m)-1 {
			return nil, usagef("--measurement %q: use NAME:HEX, e.g. pcr.sha256.0:3d45... or snp.measurement:ab12...", m)
		}
		name, val := m[:i], strings.ToLower(m[i+1:])
		if _, dup := out[name]; dup {
			return nil, usagef("--measurement %s is given twice", name)
		}
		out[name] = val
	}
	return out, nil
}
