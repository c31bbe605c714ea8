package vault

import (
	"path/filepath"
	"time"

	"github.com/digital-embassy/embassy/internal/witness"
)

// WitnessEd25519 is the default witness key algorithm (cosignature/v1);
// witness.MLDSA44 is the post-quantum one.
const WitnessEd25519 = witness.Ed25519

// WitnessKey creates (on first use) or loads the witness key of the given
// algorithm kept in dir and returns its verifier key (vkey).
func WitnessKey(dir, name, alg string) (string, error) {
	_, vkey, err := witness.LoadOrCreateKey(dir, name, alg)
	return vkey, err
}

// WitnessAlert is a refusal a home witness recorded.
type WitnessAlert = witness.Alert

// HomeWitnessAlerts reads the alerts of the home's own witnesses (classic
// and post-quantum) kept under the log directory logDir; a witness that
// recorded none (or whose file is unreadable) adds nothing.
func HomeWitnessAlerts(logDir string) []WitnessAlert {
	var alerts []WitnessAlert
	for _, n := range []string{"home", "home-pq"} {
		a, _ := witness.ReadAlerts(filepath.Join(logDir, "witness", n))
		alerts = append(alerts, a...)
	}
	return alerts
}

// WitnessAlertGroup is the repeats of one refusal: the same witness, kind
// and message (the log retrying the same checkpoint).
type WitnessAlertGroup struct {
	First time.Time
	Last  WitnessAlert
	N     int
}

// GroupWitnessAlerts groups alerts by witness, kind and message, in order
// of first appearance, counting each alert's repeats.
func GroupWitnessAlerts(as []WitnessAlert) []WitnessAlertGroup {
	var out []WitnessAlertGroup
	at := map[string]int{}
	for _, a := range as {
		k := a.Witness + "\x00" + a.Kind + "\x00" + a.Message
		i, ok := at[k]
		if !ok {
			at[k], i = len(out), len(out)
			out = append(out, WitnessAlertGroup{First: a.Time})
		}
		g := &out[i]
		g.N += max(a.Count, 1)
		if a.Time.Before(g.First) {
			g.First = a.Time
		}
		if g.Last.Time.IsZero() || !a.Time.Before(g.Last.Time) {
			g.Last = a
		}
	}
	return out
}
