package location

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/erasure"
)

// openErasure opens an erasure-coded group "erasure:K+M?members=a,b,c":
// each member is another registered site, resolved by opts.Members.
func openErasure(ctx context.Context, url string, props site.Properties, opts Options) (site.Backend, error) {
	spec, err := erasure.ParseSpec(url)
	if err != nil {
		return nil, err
	}
	if opts.Members == nil {
		return nil, fmt.Errorf("site %s: erasure groups need the site registry to resolve members", props.Name)
	}
	var members []site.Backend
	down := 0
	fail := func(err error) (site.Backend, error) {
		for _, m := range members {
			m.Close()
		}
		return nil, fmt.Errorf("site %s: %w", props.Name, err)
	}
	for _, name := range spec.Members {
		u, mp, err := opts.Members(name)
		if err == nil && strings.HasPrefix(u, "erasure:") {
			err = fmt.Errorf("member %s is itself a group", name)
		}
		if err != nil {
			return fail(err)
		}
		m, err := Open(ctx, u, mp, opts)
		if err != nil {
			// An unreachable member is an erasure like any other: the group
			// works while at least K members do.
			opts.Logger.WarnContext(ctx, "erasure group member unavailable", "site", props.Name, "member", name, "err", err)
			m = deadBackend{props: mp, err: fmt.Errorf("member %s: %w", name, err)}
			down++
		}
		members = append(members, m)
	}
	if down > spec.M {
		return fail(fmt.Errorf("%d of %d members are unavailable; a %d+%d group needs %d", down, len(members), spec.K, spec.M, spec.K))
	}
	eo := spec.Options()
	eo.Logger = opts.Logger
	b, err := erasure.NewWithOptions(members, spec.K, spec.M, props, eo)
	if err != nil {
		return fail(err)
	}
	return b, nil
}

// deadBackend stands in for a member that could not be opened.
type deadBackend struct {
	props site.Properties
	err   error
}

func (d deadBackend) Put(context.Context, site.Handle, site.Payload, site.PutOptions) error {
	return d.err
}
func (d deadBackend) Get(context.Context, site.Handle, int64, int64, func(io.Reader) error) error {
	return d.err
}
func (d deadBackend) Stat(context.Context, site.Handle) (site.Info, error) { return site.Info{}, d.err }
func (d deadBackend) List(context.Context, site.Kind, func(site.Info) error) error {
	return d.err
}
func (d deadBackend) Delete(context.Context, site.Handle) error { return d.err }
func (d deadBackend) Properties() site.Properties               { return d.props }
func (d deadBackend) Close() error                              { return nil }
