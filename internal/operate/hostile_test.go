package operate

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/registry"
)

func keyOf(r *keys.Root) func(uint32) (ed25519.PublicKey, bool) {
	return func(e uint32) (ed25519.PublicKey, bool) { return r.SigningPublicKey(), e == r.Epoch }
}

// A token valid for 100 years is neither issued nor accepted, even when
// the root key holder signed it by hand.
func TestTokenLifetimeLimit(t *testing.T) {
	root, _ := keys.NewRoot(1)
	now := time.Unix(1_800_000_000, 0)
	if _, _, err := Issue(root, "h1", "registrar", 100*365*24*time.Hour, now); err == nil {
		t.Fatal("issued a 100-year token")
	}
	if _, _, err := Issue(root, "h1", "registrar", MaxTTL, now); err != nil {
		t.Fatalf("a %v token: %v", MaxTTL, err)
	}
	body, _ := json.Marshal(Token{ID: "00", Home: "h1", Epoch: 1, Official: "x", Issued: now, Expires: now.Add(100 * 365 * 24 * time.Hour)})
	enc := base64.RawURLEncoding
	forged := "emb1." + enc.EncodeToString(body) + "." + enc.EncodeToString(keys.Sign(root.Signer(), tokenContext, body))
	if _, err := Verify(forged, "h1", keyOf(root), now); !errors.Is(err, ErrToken) || !strings.Contains(err.Error(), "maximum") {
		t.Fatalf("hand-signed 100-year token: got %v", err)
	}
}

// After a key rotation, tokens signed under the old epoch are refused.
func TestTokenEndsWithRotation(t *testing.T) {
	old, _ := keys.NewRoot(1)
	cur, _ := keys.NewRoot(2)
	now := time.Unix(1_800_000_000, 0)
	tok, _, _ := Issue(old, "h1", "registrar", time.Hour, now)
	both := func(e uint32) (ed25519.PublicKey, bool) {
		switch e {
		case 1:
			return old.SigningPublicKey(), true
		case 2:
			return cur.SigningPublicKey(), true
		}
		return nil, false
	}
	if _, err := Verify(tok, "h1", both, now); err != nil {
		t.Fatalf("control, with every epoch's key: %v", err)
	}
	if _, err := Verify(tok, "h1", keyOf(cur), now); !errors.Is(err, ErrToken) || !strings.Contains(err.Error(), "current epoch") {
		t.Fatalf("old-epoch token after rotation: got %v", err)
	}
}

// An official's lookup token cannot end the service; a deactivation token
// cannot look records up; a revoked token is refused on the next request
// once the signed list appears, and a forged or older list cannot undo it.
func TestDeactivateRoleAndRevocation(t *testing.T) {
	root, _ := keys.NewRoot(1)
	other, _ := keys.NewRoot(1)
	now := time.Now()
	lookup, lt, _ := Issue(root, "h1", "registrar", time.Hour, now)
	stop, _, _ := IssueRole(root, "h1", "duty", RoleDeactivate, time.Hour, now)
	dir := t.TempDir()
	list := filepath.Join(dir, "revoked.json")
	srv := &Server{Service: &registry.Service{}, AuditPath: filepath.Join(dir, "audit.jsonl"), AuditKey: []byte("k"), Session: "s",
		Verify:  func(s string) (*Token, error) { return Verify(s, "h1", keyOf(root), time.Now()) },
		Revoked: &Revoked{Path: list, Home: "h1", SignKey: keyOf(root)}}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	do := func(method, path, tok string) int {
		req, _ := http.NewRequest(method, hs.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := do("POST", "/deactivate", lookup); c != 403 {
		t.Fatalf("deactivate with a lookup token: %d", c)
	}
	if c := do("GET", "/v1/land/1", stop); c != 403 {
		t.Fatalf("lookup with a deactivate token: %d", c)
	}
	if c := do("GET", "/v1/land/1", lookup); c == 401 || c == 403 {
		t.Fatalf("lookup token before revocation: %d", c)
	}
	b1, _ := SignRevocations(root, RevocationList{Home: "h1", Number: 1, IDs: []string{lt.ID}})
	os.WriteFile(list, b1, 0o644)
	if c := do("GET", "/v1/land/1", lookup); c != 401 {
		t.Fatalf("revoked token: %d, want 401", c)
	}
	forged, _ := SignRevocations(other, RevocationList{Home: "h1", Number: 2})
	os.WriteFile(list, forged, 0o644)
	if c := do("GET", "/v1/land/1", lookup); c != 401 {
		t.Fatalf("revoked token after a forged empty list: %d, want 401", c)
	}
	b0, _ := SignRevocations(root, RevocationList{Home: "h1", Number: 0})
	os.WriteFile(list, b0, 0o644)
	if c := do("GET", "/v1/land/1", lookup); c != 401 {
		t.Fatalf("revoked token after an older list: %d, want 401", c)
	}
	select {
	case <-srv.Deactivated():
		t.Fatal("deactivated by a refused request")
	default:
	}
	if c := do("POST", "/deactivate", stop); c != 401 {
		// The list is in a bad state (older than held): every token is
		// refused until a good list returns, the deactivation token too.
		t.Fatalf("deactivate while the list is bad: %d, want 401", c)
	}
	os.WriteFile(list, b1, 0o644)
	if c := do("POST", "/deactivate", stop); c != 202 {
		t.Fatalf("deactivate: %d", c)
	}
	if by := <-srv.Deactivated(); by != "duty" {
		t.Fatalf("deactivated by %q", by)
	}
}

func FuzzVerifyToken(f *testing.F) {
	root, _ := keys.NewRoot(1)
	now := time.Unix(1_800_000_000, 0)
	tok, _, _ := Issue(root, "h1", "registrar", time.Hour, now)
	f.Add(tok)
	f.Add("emb1.e30.AAAA")
	f.Add("emb1..")
	f.Fuzz(func(t *testing.T, s string) {
		tk, err := Verify(s, "h1", keyOf(root), now)
		if err == nil && (tk.Expires.Sub(tk.Issued) > MaxTTL || tk.Home != "h1") {
			t.Fatalf("accepted %+v", tk)
		}
		OpenRevocations([]byte(s), "h1", keyOf(root))
	})
}
