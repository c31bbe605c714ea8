package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/digital-embassy/embassy/internal/vault"
)

// passFlag registers --passphrase-file on c.
func passFlag(c *cobra.Command, v *string) {
	c.Flags().StringVar(v, "passphrase-file", "", "file holding the passphrase of passphrase-encrypted identities (default $EMBASSY_PASSPHRASE_FILE, else asked on the terminal)")
}

// passphrase asks for an encrypted identity's passphrase: from file (or
// EMBASSY_PASSPHRASE_FILE), else on the terminal; nil when neither is
// possible (the vault then refuses with a hint).
func (e *env) passphrase(file string) vault.Passphrase {
	if file == "" {
		file = os.Getenv("EMBASSY_PASSPHRASE_FILE")
	}
	if file != "" {
		return func(string) ([]byte, error) { return os.ReadFile(file) }
	}
	in, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return nil
	}
	return func(label string) ([]byte, error) {
		fmt.Fprintf(e.stderr, "passphrase for %s: ", label)
		defer fmt.Fprintln(e.stderr)
		return term.ReadPassword(int(in.Fd()))
	}
}
