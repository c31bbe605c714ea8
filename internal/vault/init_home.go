package vault

import (
	"context"
	"errors"
	"fmt"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/repo"
)

// CreateRequest is 'embassy init': a new home (Init) for the custodians
// as given on the command line, with a custodian card for each.
type CreateRequest struct {
	Dir           string
	Config        home.Config
	CustodianArgs []string // --custodian values: recipients or files holding one (ReadRecipient)
	Threshold     int
	Description   string
	CardDir       string // the cards' folder; "": next to each identity file, else <home>/custodians (WriteCustodianCards)
}

// Created is the new home as init reports it.
type Created struct {
	Vault           *Vault
	Home, Dir       string
	Custodians      int
	Threshold       int
	Epoch           uint32
	RootFingerprint string   // the root key's (keys.Root.Fingerprint)
	Fingerprint     string   // the home's (repo.HomeFingerprint): what custodians check on recover
	Cards           []string // the custodian cards written
}

// Create checks that no home is at req.Dir, resolves the custodians,
// creates the home (Init) and writes each custodian's card with the home
// fingerprint. A card that cannot be written leaves the home in place and
// is an error that says so.
func Create(ctx context.Context, req CreateRequest, o Options) (*Created, error) {
	if home.Exists(req.Dir) {
		return nil, hint.Wrap(fmt.Errorf("a home already exists at %s", req.Dir), "use another --home, or 'embassy key rotate' to change custodians")
	}
	cs, err := ReadRecipients(req.CustodianArgs)
	if err != nil {
		return nil, err
	}
	if req.Threshold == 0 {
		return nil, hint.WithCode(errors.New("missing --threshold K: how many custodians must come together to recover the root key"), hint.CodeUsage)
	}
	v, err := Init(ctx, InitRequest{Dir: req.Dir, Config: req.Config, Custodians: cs, Threshold: req.Threshold, Description: req.Description}, o)
	if err != nil {
		return nil, err
	}
	homeID := v.Home.Config.Home
	root, err := v.Home.LoadRoot(1)
	if err != nil {
		return nil, err
	}
	c := &Created{Vault: v, Home: homeID, Dir: req.Dir, Custodians: len(cs), Threshold: req.Threshold, Epoch: root.Epoch,
		RootFingerprint: root.Fingerprint(), Fingerprint: repo.HomeFingerprint(homeID, root.SigningPublicKey())}
	c.Cards, err = WriteCustodianCards(req.CustodianArgs, cs, req.CardDir, req.Dir,
		repo.Card{Home: homeID, Fingerprint: c.Fingerprint, Threshold: req.Threshold, Of: len(cs), Created: v.Now()})
	if err != nil {
		return nil, hint.Wrap(fmt.Errorf("the home was created, but a custodian card could not be written: %w", err),
			"give each custodian the fingerprint above by hand ('embassy key status' prints it again)")
	}
	return c, nil
}
