package proof

import (
	"fmt"
	"slices"

	"github.com/digital-embassy/embassy/internal/site"
)

// Expect is what the verifier knows besides the names. Every field is
// optional.
type Expect struct {
	// Bytes returns the home's own copy of an object that is not
	// content-addressed (the home mirrors config and key objects).
	Bytes func(h site.Handle) ([]byte, bool)
	// Size returns an object's expected size, when known (from an index).
	Size func(h site.Handle) (int64, bool)
	// Names lists, per kind in Challenge.List, every name the site must hold.
	Names map[site.Kind][]string
}

// Problem is one failed check.
type Problem struct {
	Handle site.Handle // zero for listing problems
	What   string      // missing, corrupt, mismatch, size, unverifiable, error, listing, malformed
	Detail string
}

func (p Problem) String() string {
	if p.Handle.Kind == 0 {
		return p.What + ": " + p.Detail
	}
	return fmt.Sprintf("%v: %s: %s", p.Handle, p.What, p.Detail)
}

// Report is the outcome of Verify.
type Report struct {
	Objects  int // objects challenged
	Proved   int // objects whose answer checked out
	Chunks   int // chunks checked
	Problems []Problem
}

// OK reports whether every check passed.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Verify checks resp against the challenge c.
func Verify(c Challenge, resp Response, exp Expect) Report {
	rep := Report{Objects: len(c.Objects)}
	bad := func(h site.Handle, what, format string, a ...any) {
		rep.Problems = append(rep.Problems, Problem{Handle: h, What: what, Detail: fmt.Sprintf(format, a...)})
	}
	if resp.Nonce != c.Nonce {
		bad(site.Handle{}, "malformed", "the response answers another challenge")
		return rep
	}
	if len(resp.Answers) != len(c.Objects) || len(resp.Listings) != len(c.List) {
		bad(site.Handle{}, "malformed", "%d answers and %d listings for %d objects and %d kinds", len(resp.Answers), len(resp.Listings), len(c.Objects), len(c.List))
		return rep
	}
	for i, h := range c.Objects {
		a := resp.Answers[i]
		switch a.Status {
		case StatusMissing:
			bad(h, "missing", "the site does not hold it")
			continue
		case StatusError:
			bad(h, "error", "the site could not answer: %.200s", a.Err)
			continue
		}
		if exp.Size != nil {
			if want, ok := exp.Size(h); ok && want != a.Size {
				bad(h, "size", "site claims %d bytes, want %d", a.Size, want)
				continue
			}
		}
		root, addressed := ContentRoot(h)
		switch {
		case addressed && a.Status == StatusTree:
			if ok, detail := verifyTree(c, h, root, a); !ok {
				bad(h, "corrupt", "%s", detail)
				continue
			}
			rep.Chunks += len(a.Chunks)
		case !addressed && a.Status == StatusMAC:
			var data []byte
			ok := false
			if exp.Bytes != nil {
				data, ok = exp.Bytes(h)
			}
			if !ok {
				bad(h, "unverifiable", "no copy at home to check the site's MAC against")
				continue
			}
			if a.Size != int64(len(data)) || MAC(c.Nonce, h, data) != a.MAC {
				bad(h, "mismatch", "the site's copy differs from the home's (other content, version or repository)")
				continue
			}
		default:
			bad(h, "malformed", "answer of kind %d for this object", a.Status)
			continue
		}
		rep.Proved++
	}
	for i, k := range c.List {
		l := resp.Listings[i]
		want, ok := exp.Names[k]
		if !ok {
			continue
		}
		if l.Kind != k {
			bad(site.Handle{}, "malformed", "listing %d is of kind %v, want %v", i, l.Kind, k)
			continue
		}
		if l.Count != int64(len(want)) || l.Digest != ListingDigest(c.Nonce, k, want) {
			bad(site.Handle{}, "listing", "the site lists %d %v objects, the home expects %d; the listing is stale, partial or padded", l.Count, k, len(want))
		}
	}
	return rep
}

func verifyTree(c Challenge, h site.Handle, root [32]byte, a Answer) (bool, string) {
	if a.Size < 0 {
		return false, "negative size"
	}
	want := SelectChunks(c.Nonce, h, a.Size, c.Chunks)
	if len(a.Chunks) != len(want) {
		return false, fmt.Sprintf("%d chunks revealed, want %d", len(a.Chunks), len(want))
	}
	seen := map[int64]bool{}
	for _, cp := range a.Chunks {
		if !slices.Contains(want, cp.Index) || seen[cp.Index] {
			return false, fmt.Sprintf("chunk %d was not asked for or repeats", cp.Index)
		}
		seen[cp.Index] = true
		if !VerifyChunk(root, a.Size, cp.Index, cp.Data, cp.Path) {
			return false, fmt.Sprintf("chunk %d does not hash to the object's name", cp.Index)
		}
	}
	return true, ""
}
