package vault

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/digital-embassy/embassy/internal/agreement"
	"github.com/digital-embassy/embassy/internal/hint"
)

// SignAgreement signs as a party into -o OUT, refuses the wrong party's key
// (exit 4), an unknown role and an override without a reason (usage).
func TestSignAgreement(t *testing.T) {
	ex := "../../examples/agreements/"
	doc, err := os.ReadFile(ex + "ee-lu.signed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "ee-lu.yaml")
	if err := os.WriteFile(in, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	out := in + ".out"
	res, err := SignAgreement(SignAgreementRequest{File: in, KeyFile: ex + "keys/sending.demo.key", Role: agreement.Sending, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.File != out || res.ID != "ee-lu" || res.Result != "signed as the sending state (EE)" {
		t.Errorf("result %+v", res)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := agreement.Parse(b); err != nil || agreement.Verify(a) != nil {
		t.Errorf("signed copy does not verify: %v", err)
	}
	for _, c := range []struct {
		req  SignAgreementRequest
		code hint.Code
	}{
		{SignAgreementRequest{File: in, KeyFile: ex + "keys/host.demo.key", Role: agreement.Sending}, hint.CodeKey},
		{SignAgreementRequest{File: in, KeyFile: ex + "keys/host.demo.key", Role: "guest"}, hint.CodeUsage},
		{SignAgreementRequest{File: in, KeyFile: ex + "keys/sending.demo.key", Override: "operations.disclosure-delay-hours"}, hint.CodeUsage},
		{SignAgreementRequest{File: in + ".missing", KeyFile: ex + "keys/sending.demo.key", Role: agreement.Sending}, hint.CodeUsage},
	} {
		if _, err := SignAgreement(c.req); hint.CodeOf(err) != c.code {
			t.Errorf("%+v: %v (code %v), want code %v", c.req, err, hint.CodeOf(err), c.code)
		}
	}
}
