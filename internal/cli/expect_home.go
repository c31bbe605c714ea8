package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/repo"
)

const expectHomeUsage = "the home fingerprint ('embassy key status'), or a custodian card file (custodian-NAME.txt from init) holding it; a site presenting another vault is refused"

// expectHomeFlag registers --expect-home on c.
func expectHomeFlag(c *cobra.Command, v *string) {
	c.Flags().Var(homePin{v}, "expect-home", expectHomeUsage)
}

// homePin is --expect-home: a fingerprint as given, or the fingerprint
// read from a custodian card when the value names a file.
type homePin struct{ p *string }

func (h homePin) String() string {
	if h.p == nil {
		return ""
	}
	return *h.p
}

func (h homePin) Type() string { return "fingerprint|card" }

func (h homePin) Set(v string) error {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "fp") && !strings.ContainsAny(v, `/\`) {
		if _, err := os.Stat(v); err != nil { // a fingerprint, not a file of that name
			*h.p = v
			return nil
		}
	}
	fi, err := os.Stat(v)
	if err != nil {
		*h.p = v // not a file: taken as a fingerprint, checked against the vault
		return nil
	}
	if fi.Size() > 1<<16 {
		return fmt.Errorf("%s is %d bytes: not a custodian card (give the fingerprint or the custodian-NAME.txt file init wrote)", v, fi.Size())
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return err
	}
	fp, err := repo.ParseCard(b)
	if err != nil {
		return fmt.Errorf("%s: %v (give the fingerprint or the custodian-NAME.txt file init wrote)", v, err)
	}
	*h.p = fp
	return nil
}
