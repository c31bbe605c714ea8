package vault

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/operate"
)

// The crisis service's token limits, for the entry points' flags.
const (
	OperateMaxTTL         = operate.MaxTTL     // longest validity of an official's token
	OperateRoleLookup     = operate.RoleLookup // the role of a token that may look records up
	OperateRoleDeactivate = operate.RoleDeactivate
)

// AddQuorumSignatures adds custodians' deactivation signatures to the
// quorum file at path (a JSON {"signatures": [...]} POSTed to the crisis
// service's /deactivate), creating it if missing, and returns how many
// signatures it now holds. A file that is not a quorum file is a usage
// error and is left as it was.
func AddQuorumSignatures(path string, sigs []operate.CustodianSignature) (int, error) {
	var q operate.QuorumRequest
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &q); err != nil {
			return 0, hint.WithCode(hint.Wrap(fmt.Errorf("%s: %w", path, err), "give a quorum file this command wrote, or a new file name"), hint.CodeUsage)
		}
	}
	q.Signatures = append(q.Signatures, sigs...)
	b, _ := json.MarshalIndent(q, "", "  ")
	if err := atomicfile.Write(path, append(b, '\n'), 0o644); err != nil {
		return 0, err
	}
	return len(q.Signatures), nil
}
