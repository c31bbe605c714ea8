package failover

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	f_note "github.com/transparency-dev/formats/note"

	"github.com/digital-embassy/embassy/internal/witness"
)

// WitnessHead is what one witness of the log policy answered when asked
// for the newest checkpoint it cosigned of the home's log.
type WitnessHead struct {
	Name, URL string
	Size      uint64
	Hash      []byte
	// Err is set when the witness could not be asked or its answer does
	// not verify (the log's signature and the witness's cosignature): its
	// state is then unknown, which is a warning, never a pass.
	Err error
	// None is set when the witness answered that it cosigned nothing.
	None bool
}

// askTimeout bounds one witness request.
const askTimeout = 15 * time.Second

// AskWitnesses asks every witness the log policy names with a URL outside
// the home (the home's own witnesses live in the lost home) for the newest
// checkpoint of the log it cosigned. hc nil: a client with a timeout over
// the default transport.
func (w *Witnessed) AskWitnesses(ctx context.Context, hc *http.Client) []WitnessHead {
	if w.Policy == nil {
		return nil
	}
	if hc == nil {
		hc = &http.Client{Timeout: askTimeout}
	}
	var out []WitnessHead
	for _, pw := range w.Policy.External() {
		h := WitnessHead{Name: pw.Name, URL: pw.URL}
		witV, err := f_note.NewVerifierForCosignatureV1(pw.VKey)
		if err != nil {
			h.Err = fmt.Errorf("witness key in the policy: %v", err)
			out = append(out, h)
			continue
		}
		var got *witness.Latest
		for _, logV := range w.Policy.Logs {
			got, err = witness.FetchLatest(ctx, hc, pw.URL, w.Origin, logV, witV)
			if err == nil || errors.Is(err, witness.ErrNoCheckpoint) {
				break
			}
		}
		switch {
		case errors.Is(err, witness.ErrNoCheckpoint):
			h.None = true
		case err != nil:
			h.Err = err
		default:
			h.Size, h.Hash = got.Checkpoint.Size, got.Checkpoint.Hash
		}
		out = append(out, h)
	}
	return out
}

// Ahead returns the answers that show more than this copy of the log: a
// larger tree, or another tree of the same size (a fork). The copy is then
// stale (perhaps served by a host with its rolled-back site) and cannot
// show that a site is fresh.
func (w *Witnessed) Ahead(heads []WitnessHead) []WitnessHead {
	var out []WitnessHead
	for _, h := range heads {
		if h.Err != nil || h.None {
			continue
		}
		if h.Size > w.Size || (h.Size == w.Size && !bytes.Equal(h.Hash, w.Hash)) {
			out = append(out, h)
		}
	}
	return out
}

// Unreachable returns the answers that could not be had or checked.
func Unreachable(heads []WitnessHead) []WitnessHead {
	var out []WitnessHead
	for _, h := range heads {
		if h.Err != nil {
			out = append(out, h)
		}
	}
	return out
}

// AheadError explains why a site cannot be shown fresh against a log copy
// the witnesses have gone beyond.
func (w *Witnessed) AheadError(siteNames string, ahead []WitnessHead) error {
	var b strings.Builder
	for i, h := range ahead {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "witness %s (%s) cosigned size %d (root %x)", h.Name, h.URL, h.Size, h.Hash)
	}
	return fmt.Errorf("%s: the log's witnesses cosigned more than the log copy shows (size %d, root %x): %s; the copy is stale, perhaps served with a rolled-back site, so the site cannot be shown fresh and is not used",
		siteNames, w.Size, w.Hash, b.String())
}
