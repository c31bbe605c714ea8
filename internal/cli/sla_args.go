package cli

import (
	"time"

	"github.com/digital-embassy/embassy/internal/sla"
)

// slaMonth is the month of 'embassy sla report --month YYYY-MM'; a missing
// or malformed month is a usage error suggesting last month.
func (e *env) slaMonth(month string) (time.Time, error) {
	if month == "" {
		return time.Time{}, usagef("give --month YYYY-MM, e.g. --month %s", e.now().AddDate(0, -1, 0).Format("2006-01"))
	}
	m, err := sla.MonthOf(month)
	if err != nil {
		return time.Time{}, usagef("%v", err)
	}
	return m, nil
}
