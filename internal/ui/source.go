// Package ui is the operator dashboard: one web page for the sending state,
// the host and the auditor, served by the project itself with its assets
// embedded in the binary. Every view has a JSON API under /api/; roles are
// enforced on every request; every sign-in and every change made through
// the page is recorded in the transparency log.
package ui

import (
	"context"
	"time"

	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/watch"
)

// Site is one host site as the overview shows it.
type Site struct {
	Name         string     `json:"name"`
	Jurisdiction string     `json:"jurisdiction"`
	Operator     string     `json:"operator,omitempty"`
	Agreement    string     `json:"agreement,omitempty"`
	Lat          *float64   `json:"lat,omitempty"`
	Lon          *float64   `json:"lon,omitempty"`
	Tier         int        `json:"tier,omitempty"`
	Healthy      bool       `json:"healthy"`
	Status       string     `json:"status"`
	LastProof    *time.Time `json:"last_proof,omitempty"`
	ProofDamage  int        `json:"proof_damage,omitempty"`
}

// Dataset is one dataset's placement and history.
type Dataset struct {
	Name         string     `json:"name"`
	Class        string     `json:"class,omitempty"`
	Sites        []string   `json:"sites"`
	Snapshots    int        `json:"snapshots"`
	LastSnapshot *time.Time `json:"last_snapshot,omitempty"`
	LastVerified *time.Time `json:"last_verified,omitempty"`
}

// Overview is the first page.
type Overview struct {
	Home       string        `json:"home"`
	Sites      []Site        `json:"sites"`
	Alerts     []watch.Alert `json:"alerts"`
	LogSize    uint64        `json:"log_size"`
	Checkpoint string        `json:"checkpoint,omitempty"`
	Witnesses  []string      `json:"witnesses,omitempty"`
}

// Source is where the dashboard reads the home from (the vault service at
// the home, a daemon's own state at a host) and records what people do.
type Source interface {
	Overview(ctx context.Context) (Overview, error)
	Datasets(ctx context.Context) ([]Dataset, error)
	Log(ctx context.Context) ([]tlog.Indexed, error)
	Disclosures(ctx context.Context) (tlog.DisclosureReport, error)
	Receipt(ctx context.Context, index uint64) ([]byte, error)
	// Record appends an entry (a sign-in, an acknowledgement) to the
	// transparency log and returns once it is cosigned.
	Record(ctx context.Context, e tlog.Entry) error
	// Version changes whenever anything the page shows may have changed.
	Version(ctx context.Context) uint64
}
