package repo

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/digital-embassy/embassy/internal/crashpoint"
	"github.com/digital-embassy/embassy/internal/site"
)

// RepairAction is one object Repair restored (or could not) at a site.
type RepairAction struct {
	Site   string `json:"site"`
	Object string `json:"object"`
	From   string `json:"from,omitempty"`
	Done   bool   `json:"done"`
	Error  string `json:"error,omitempty"`
}

// Repair rebuilds what sites lost or damaged, from the intact copies other
// sites hold: for every damage in rep that names a site and an object, it
// finds a copy at another site that checks out (content-addressed objects
// must hash to their name; manifests and indexes must also authenticate),
// deletes the bad copy and writes the good one.
func (r *Repo) Repair(ctx context.Context, rep *VerifyReport, dryRun bool) ([]RepairAction, error) {
	bySite := map[string]*Site{}
	for _, s := range r.Sites() {
		bySite[s.Name] = s
	}
	var out []RepairAction
	done := map[string]bool{}
	for _, dmg := range rep.Damage {
		s := bySite[dmg.Site]
		if s == nil || s.Backend == nil {
			continue // "*" (every site) or an unreachable site: nothing to copy from or to
		}
		h, err := parseHandle(dmg.Object)
		if err != nil || done[dmg.Site+" "+dmg.Object] {
			continue
		}
		done[dmg.Site+" "+dmg.Object] = true
		act := RepairAction{Site: s.Name, Object: dmg.Object}
		data, from, err := r.goodCopy(ctx, h, s)
		if err != nil {
			act.Error = err.Error()
			out = append(out, act)
			continue
		}
		act.From = from
		if dryRun {
			out = append(out, act)
			continue
		}
		// At an object-lock site the damaged version may be retained (the
		// delete is refused) or hidden by a host's delete marker (a
		// create-only write is refused): the checked copy is then written
		// as a new current version on top.
		locked := s.Backend.Properties().ObjectLock
		if err := s.Backend.Delete(ctx, h); err != nil && !errors.Is(err, site.ErrNotFound) && !locked {
			act.Error = fmt.Sprintf("delete damaged copy: %v", err)
			out = append(out, act)
			continue
		}
		crashpoint.Hit("repo.repair.deleted")
		opts := s.putOptions(h, r.now())
		opts.IfAbsent = opts.IfAbsent && !locked
		err = s.Backend.Put(ctx, h, site.Bytes(data), opts)
		if errors.Is(err, site.ErrExists) {
			opts.IfAbsent = false
			err = s.Backend.Put(ctx, h, site.Bytes(data), opts)
		}
		if err != nil {
			act.Error = err.Error()
		} else {
			act.Done = true
		}
		out = append(out, act)
	}
	return out, nil
}

func parseHandle(s string) (site.Handle, error) {
	kind, name, ok := strings.Cut(s, "/")
	if !ok {
		return site.Handle{}, fmt.Errorf("not an object: %q", s)
	}
	k, err := site.ParseKind(kind)
	if err != nil {
		return site.Handle{}, err
	}
	h := site.Handle{Kind: k, Name: name}
	return h, h.Validate()
}

// goodCopy returns an intact copy of h from a site other than bad.
func (r *Repo) goodCopy(ctx context.Context, h site.Handle, bad *Site) ([]byte, string, error) {
	var errs []error
	for _, s := range r.sites {
		if s == bad || s.Backend == nil || !s.holds(h.Kind) {
			continue
		}
		b, err := ReadObject(ctx, s.Backend, h)
		if err != nil {
			errs = append(errs, fmt.Errorf("site %s: %w", s.Name, err))
			continue
		}
		switch h.Kind {
		case site.KindPack, site.KindIndex, site.KindSnapshot:
			id, err := ParseID(lastComponent(h.Name))
			if err != nil || Hash(b) != id {
				errs = append(errs, fmt.Errorf("site %s: copy does not match its name", s.Name))
				continue
			}
		case site.KindConfig:
			if h.Name == "repo" {
				if _, _, err := verifyRepoBody(b, r.home); err != nil {
					errs = append(errs, fmt.Errorf("site %s: %w", s.Name, err))
					continue
				}
			}
		}
		return b, s.Name, nil
	}
	if len(errs) == 0 {
		return nil, "", errors.New("no other site holds a copy")
	}
	return nil, "", fmt.Errorf("no intact copy elsewhere: %w", errors.Join(errs...))
}
