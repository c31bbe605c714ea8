package broker

import (
	"context"

	"github.com/digital-embassy/embassy/internal/tlog"
)

// Log entry kinds of the broker. A release is a key use at the workload's
// site and is cross-checked against the site's disclosures like one.
const (
	KindKeyRelease = tlog.KindKeyRelease
	KindKeyRefuse  = tlog.KindKeyRefuse
)

// Recorder appends an entry to the transparency log and returns once it is
// durable (cosigned). A release is answered only after its entry is.
type Recorder interface {
	Record(ctx context.Context, e tlog.Entry) error
}

// Gate is the vault's policy gate (internal/policy's key-release action):
// it may refuse a release the broker's own rules allow.
type Gate interface {
	AllowRelease(ctx context.Context, dataset, site string) error
}
