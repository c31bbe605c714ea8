package cli

import (
	"strings"
	"time"
)

// parseWhen accepts RFC 3339, a date (2026-11-25) or a duration ago (24h, 7d).
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.UTC); err == nil {
		return t, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := time.ParseDuration(d + "h"); err == nil {
			return now.Add(-24 * n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, usagef("time %q: use RFC 3339 (2026-11-25T10:00:00Z), a date (2026-11-25) or a duration ago (24h, 7d)", s)
}

// parseRange parses a --since/--until pair with parseWhen.
func parseRange(since, until string, now time.Time) (from, to time.Time, err error) {
	if from, err = parseWhen(since, now); err != nil {
		return
	}
	to, err = parseWhen(until, now)
	return
}
