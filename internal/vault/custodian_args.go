package vault

import (
	"fmt"
	"os"
	"strings"

	"github.com/digital-embassy/embassy/internal/hint"
)

// ReadRecipient resolves a --custodian value: an age recipient string, or
// a file holding one (a recipient line, or an identity file's
// "# public key:" comment). A value that is neither is a usage error.
func ReadRecipient(v string) (string, error) {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "age1") {
		return v, nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return "", hint.WithCode(hint.Wrap(fmt.Errorf("--custodian %q is neither an age recipient nor a readable file", v),
			"pass the recipient printed by 'embassy custodian keygen' (age1pq1...)"), hint.CodeUsage)
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		line = strings.TrimPrefix(line, "# public key: ")
		if strings.HasPrefix(line, "age1") {
			return line, nil
		}
	}
	return "", hint.WithCode(fmt.Errorf("%s holds no age recipient", v), hint.CodeUsage)
}

// ReadRecipients resolves each --custodian value (ReadRecipient), in order;
// the first that does not resolve is the error.
func ReadRecipients(vs []string) ([]string, error) {
	var out []string
	for _, v := range vs {
		rec, err := ReadRecipient(v)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}
