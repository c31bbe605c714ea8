package registry

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeCSV(t testing.TB, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "r.csv")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestServiceRoutes: the lookup service answers a record by key, 404 for
// an unknown or malformed key and for a register it does not serve, and
// every lookup goes through the caller's wrapper with its kind.
func TestServiceRoutes(t *testing.T) {
	pop, err := Open(writeCSV(t, "personal_id,name,town\n38501012231,\"Tamm, Mari\",Tallinn\n49001010000,Jaan Kask,Tartu\n"), PersonalKey)
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{Population: pop}
	defer s.Close()
	var kinds []string
	mux := http.NewServeMux()
	s.Register(mux, func(kind string, h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { kinds = append(kinds, kind); h(w, r) }
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s: content type %q", path, ct)
		}
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	code, body := get("/v1/population/38501012231")
	rec, _ := body["record"].(map[string]any)
	if code != 200 || rec["name"] != "Tamm, Mari" || rec["town"] != "Tallinn" {
		t.Fatalf("lookup: %d %v", code, body)
	}
	for _, p := range []string{"/v1/population/38501012232", "/v1/population/123", "/v1/land/12345:001:0001"} {
		if code, body := get(p); code != 404 || body["error"] == "" {
			t.Errorf("%s: %d %v", p, code, body)
		}
	}
	if code, body := get("/healthz"); code != 200 || body["ok"] != true {
		t.Fatalf("healthz: %d %v", code, body)
	}
	if strings.Join(kinds, ",") != "population,population,population,land" {
		t.Fatalf("wrapped kinds: %v", kinds)
	}
	// Without a wrapper the routes still answer.
	mux2 := http.NewServeMux()
	(&Service{Population: pop}).Register(mux2, nil)
	rr := httptest.NewRecorder()
	mux2.ServeHTTP(rr, httptest.NewRequest("GET", "/v1/population/49001010000", nil))
	if rr.Code != 200 || !strings.Contains(rr.Body.String(), "Jaan Kask") {
		t.Fatalf("unwrapped: %d %s", rr.Code, rr.Body.String())
	}
}

// TestOpenOddFiles: rows with keys that do not parse are skipped, a
// duplicate key keeps its first row, and a file that cannot be indexed
// is refused with the reason.
func TestOpenOddFiles(t *testing.T) {
	tab, err := Open(writeCSV(t, "cadastral_id,owner\n12345:001:0001,first\nnot-a-key,x\n12345:001:0001,second\n,empty\n78401:002:0003,last"), ParcelKey)
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	if tab.Len() != 2 {
		t.Fatalf("%d rows indexed, want 2", tab.Len())
	}
	if rec, err := tab.Lookup("12345:001:0001"); err != nil || rec["owner"] != "first" {
		t.Fatalf("duplicate key: %v %v", rec, err)
	}
	if rec, err := tab.Lookup("78401:002:0003"); err != nil || rec["owner"] != "last" {
		t.Fatalf("last row without a newline: %v %v", rec, err)
	}
	if _, err := tab.Lookup("1:2:3"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("malformed key: %v", err)
	}
	for name, body := range map[string]string{
		"long line":  "id,x\n38501012231," + strings.Repeat("x", 2<<20) + "\n",
		"bad header": "\"unterminated\n",
	} {
		if _, err := Open(writeCSV(t, body), PersonalKey); err == nil {
			t.Errorf("%s: indexed", name)
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "none.csv"), PersonalKey); err == nil {
		t.Fatal("a missing file opened")
	}
	for _, k := range []string{"12345:001:00a1", "1234:001:0001", "12345:001"} {
		if _, ok := ParcelKey(k); ok {
			t.Errorf("ParcelKey(%q) parsed", k)
		}
	}
	for _, k := range []string{"3850101223a", "385010122311", ""} {
		if _, ok := PersonalKey(k); ok {
			t.Errorf("PersonalKey(%q) parsed", k)
		}
	}
}

// FuzzTable: a restored register file of any content is indexed or
// refused, never a panic, and every indexed key looks up a record.
func FuzzTable(f *testing.F) {
	f.Add("personal_id,name\n38501012231,Mari\n")
	f.Add("personal_id,name\n38501012231,\"a,b\"\n38501012231,dup\n")
	f.Add("\"x\n38501012231,\"unterminated\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, body string) {
		tab, err := Open(writeCSV(t, body), PersonalKey)
		if err != nil {
			return
		}
		defer tab.Close()
		for _, line := range strings.Split(body, "\n")[1:] {
			key, _, ok := strings.Cut(line, ",")
			if _, valid := PersonalKey(key); ok && valid {
				_, _ = tab.Lookup(key) // a malformed record is an error, not a panic
			}
		}
	})
}
