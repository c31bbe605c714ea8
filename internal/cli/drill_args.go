package cli

import (
	"os"

	"github.com/digital-embassy/embassy/internal/hint"
)

// readArgFile reads the file a command's argument names; a file that does
// not read is a usage error (exit 2).
func readArgFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, hint.WithCode(err, hint.CodeUsage)
	}
	return b, nil
}
