package cli

import (
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/vault"
)

// refuseSameStorage: see vault.RefuseSameStorage (exit still runs here).
func (e *env) refuseSameStorage(h *home.Home, r *repo.Repo, name string, b site.Backend, why string) error {
	return vault.RefuseSameStorage(e.ctx, h, r, name, b, why)
}
