package cli

import (
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/vault"
)

// continuity is the command's continuity service: over the home in --home
// if there is one (its policy gate and log), else over nothing but the plan.
func (e *env) continuity() *vault.Continuity {
	if v := e.localVault(); v != nil {
		return vault.NewContinuity(v, vault.Options{})
	}
	return vault.NewContinuity(nil, e.vaultOptions())
}

// localVault is the vault of the home in --home when there is one that
// opens, else nil.
func (e *env) localVault() *vault.Vault {
	if dir, err := e.homePath(); err == nil && home.Exists(dir) {
		if h, err := home.Open(dir); err == nil {
			return e.vaultOf(h)
		}
	}
	return nil
}
