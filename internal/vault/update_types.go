package vault

import "github.com/digital-embassy/embassy/internal/supply"

// SignedUpdate is a signed update approval (docs/formats/update-approval.md),
// as ApproveUpdate returns it: entry points show it without reaching
// internal/supply.
type SignedUpdate = supply.Signed
