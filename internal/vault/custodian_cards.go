package vault

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/repo"
)

// WriteCustodianCards writes custodian-NAME.txt for each custodian (args
// as given to --custodian, recipients as resolved) and returns the paths.
// An existing card of another home is kept: the new one then carries the
// home id in its name.
func WriteCustodianCards(args, recipients []string, outDir, homeDir string, base repo.Card) ([]string, error) {
	var paths []string
	for i, a := range args {
		c := base
		c.Index, c.Recipient = i+1, recipients[i]
		c.Custodian = fmt.Sprint(i + 1)
		dir := outDir
		if st, err := os.Stat(a); err == nil && !st.IsDir() && !strings.HasPrefix(strings.TrimSpace(a), "age1") {
			name := filepath.Base(a)
			c.Custodian = strings.TrimSuffix(name, filepath.Ext(name))
			if dir == "" {
				dir = filepath.Dir(a)
			}
		}
		if dir == "" {
			dir = filepath.Join(homeDir, "custodians")
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return paths, err
		}
		p := filepath.Join(dir, "custodian-"+c.Custodian+".txt")
		if old, err := os.ReadFile(p); err == nil {
			if fp, err := repo.ParseCard(old); err != nil || fp != c.Fingerprint {
				p = filepath.Join(dir, "custodian-"+c.Custodian+"."+c.Home+".txt")
			}
		}
		if err := atomicfile.Write(p, c.Encode(), 0o644); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}
