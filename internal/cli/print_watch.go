package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/digital-embassy/embassy/internal/watch"
)

func (e *env) printAlerts(alerts []watch.Alert) error {
	if e.json {
		if alerts == nil {
			alerts = []watch.Alert{}
		}
		return e.emitJSON(alerts)
	}
	if len(alerts) == 0 {
		e.printf("no alerts\n")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tKIND\tSITE\tDATASET\tWHY")
	for _, a := range alerts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Time.UTC().Format("2006-01-02 15:04"), a.Kind, dash(a.Site), dash(a.Dataset), watch.Clean(a.Why))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return watch.Clean(s)
}
