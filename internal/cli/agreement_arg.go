package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/hint"
)

// readAgreementArg parses a file, or the installed agreement with that id.
func (e *env) readAgreementArg(arg string) (*agreement.Agreement, error) {
	path := arg
	if _, err := os.Stat(arg); err != nil && agreement.ValidID(arg) == nil {
		h, herr := e.openHome()
		if herr != nil {
			return nil, herr
		}
		path = filepath.Join(agreementsDir(h), arg+".yaml")
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		return nil, hint.WithCode(hint.Wrap(err, "pass an agreement file, or the id of one listed by 'embassy agreement list'"), hint.CodeUsage)
	}
	a, err := agreement.Parse(doc)
	if err != nil {
		return nil, hint.Wrap(fmt.Errorf("%s:\n%w", path, err), "fix the terms named above")
	}
	return a, nil
}
