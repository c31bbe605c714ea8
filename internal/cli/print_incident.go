package cli

import (
	"strconv"
	"time"

	"github.com/digital-embassy/embassy/internal/incident"
)

func incidentLine(in incident.Incident) string {
	state := "acknowledged " + in.Acked.UTC().Format("2006-01-02 15:04")
	if in.Acked.IsZero() {
		state = "awaiting acknowledgement"
	}
	if in.Escalated {
		state += "; ESCALATED: not acknowledged within " + in.Allowed.String()
	}
	late := ""
	if in.Late {
		late = " (LATE)"
	}
	return strconv.FormatUint(in.Index, 10) + "  " + in.Site + "  " + in.Type + "  " + termSafe(in.What) + ": notified " +
		in.Notified.Sub(in.Occurred).Round(time.Second).String() + " after it occurred" + late + "; " + state
}
