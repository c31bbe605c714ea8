package server_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/digital-embassy/embassy/internal/locate"
	"github.com/digital-embassy/embassy/internal/pki"
	"github.com/digital-embassy/embassy/internal/server"
	"github.com/digital-embassy/embassy/internal/server/servertest"
	"github.com/digital-embassy/embassy/internal/site"
	"github.com/digital-embassy/embassy/internal/site/mem"
)

// POST /v1/facts: the daemon signs what the host declared, over the
// caller's nonce, with its site key; an auditor may ask, an operator may
// not; a malformed nonce is refused.
func TestFactsSignedWithSiteKey(t *testing.T) {
	at := locate.Point{Lat: 49.6116, Lon: 6.1319}
	env := servertest.Start(t, mem.New(site.Properties{Jurisdiction: "LU"}), &server.Config{Facts: server.SiteFacts{Declared: &at, Place: "Luxembourg"}})
	pairs := map[pki.Role]*http.Client{}
	for _, r := range []pki.Role{pki.RoleHome, pki.RoleAuditor, pki.RoleOperator} {
		pair := env.Issue(t, pki.Request{Role: r, Name: string(r) + "-x"})
		pairs[r] = httpClient(env.TLS(&pair))
	}
	post := func(role pki.Role, body string) (*http.Response, []byte) {
		resp, err := pairs[role].Post("https://"+env.Addr+"/v1/facts", "application/json", bytes.NewReader([]byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	nonce := locate.NewNonce()
	resp, b := post(pki.RoleAuditor, `{"nonce":"`+nonce+`"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("auditor: %d %s", resp.StatusCode, b)
	}
	s, err := locate.ParseSigned(b)
	if err != nil {
		t.Fatal(err)
	}
	f, err := locate.VerifyFacts(s, resp.TLS.PeerCertificates[0])
	if err != nil {
		t.Fatal(err)
	}
	if f.Nonce != nonce || f.Site != "site" || f.Home != env.CA.Home || *f.Declared != at || f.Jurisdiction != "LU" || f.Place != "Luxembourg" {
		t.Fatalf("facts %+v", f)
	}
	if resp, _ := post(pki.RoleOperator, `{"nonce":"`+nonce+`"}`); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("operator: %d", resp.StatusCode)
	}
	for _, body := range []string{`{"nonce":"00"}`, `{}`, `not json`} {
		if resp, _ := post(pki.RoleHome, body); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: %d", body, resp.StatusCode)
		}
	}
}
