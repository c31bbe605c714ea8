package vault

import (
	"fmt"
	"os"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/hint"
)

// SignAgreementRequest is 'agreement sign': the agreement File, the
// party's KeyFile and either the Role to sign as or an Override (a looser
// term) with its Reason. Out is where the signed document goes (File when
// empty).
type SignAgreementRequest struct {
	File, KeyFile, Role, Override, Reason, Out string
}

// SignAgreementResult says where the signed agreement was written and what
// was signed.
type SignAgreementResult struct {
	File   string `json:"file"`
	ID     string `json:"id"`
	Result string `json:"result"`
}

// SignAgreement signs req.File as one party, or signs an override of a
// looser term as the sending state, and writes the document to req.Out.
func SignAgreement(req SignAgreementRequest) (*SignAgreementResult, error) {
	doc, err := os.ReadFile(req.File)
	if err != nil {
		return nil, hint.WithCode(err, hint.CodeUsage)
	}
	kb, err := os.ReadFile(req.KeyFile)
	if err != nil {
		return nil, hint.WithCode(hint.Wrap(err, "pass the party's key file from 'embassy agreement keygen' with --key"), hint.CodeUsage)
	}
	key, err := agreement.ParsePrivateKey(kb)
	if err != nil {
		return nil, hint.WithCode(err, hint.CodeUsage)
	}
	a, err := agreement.Parse(doc)
	if err != nil {
		return nil, hint.Wrap(fmt.Errorf("%s:\n%w", req.File, err), "fix the agreement before signing it")
	}
	var msg string
	if req.Override != "" {
		if req.Reason == "" {
			return nil, hint.WithCode(fmt.Errorf("--override needs --reason: say why the sending state accepts the looser term"), hint.CodeUsage)
		}
		o, err := agreement.SignOverride(a, req.Override, req.Reason, key)
		if err != nil {
			return nil, hint.WithCode(err, hint.CodeUsage)
		}
		if doc, err = agreement.AddOverride(doc, o); err != nil {
			return nil, err
		}
		msg = fmt.Sprintf("override of %s signed by the sending state", req.Override)
	} else {
		if req.Role != agreement.Sending && req.Role != agreement.Host {
			return nil, hint.WithCode(fmt.Errorf("--role %q: use sending or host", req.Role), hint.CodeUsage)
		}
		sig, err := agreement.Sign(a, req.Role, key)
		if err != nil {
			return nil, hint.WithCode(hint.Wrap(err, "sign with the key whose public half is in parties."+req.Role+".key"), hint.CodeKey)
		}
		if doc, err = agreement.SetSignature(doc, req.Role, sig); err != nil {
			return nil, err
		}
		msg = fmt.Sprintf("signed as the %s state (%s)", req.Role, a.Parties[req.Role].State)
	}
	out := req.Out
	if out == "" {
		out = req.File
	}
	if err := atomicfile.Write(out, doc, 0o644); err != nil {
		return nil, err
	}
	return &SignAgreementResult{File: out, ID: a.ID, Result: msg}, nil
}
