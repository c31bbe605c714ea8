package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/digital-embassy/embassy/internal/locate"
	"github.com/digital-embassy/embassy/internal/pki"
)

// TestCoverMainFlagErrors: bad values of the daemon's own flags and usage
// errors found by Run exit 2, with the exact complaint.
func TestCoverMainFlagErrors(t *testing.T) {
	id := newIdentities(t)
	dir := t.TempDir()
	noCap := filepath.Join(dir, "none.yaml")
	badCap := writeFile(t, filepath.Join(dir, "bad.yaml"), "gpus: nine\n")
	certs := []string{"--store", filepath.Join(dir, "store"), "--create", "--ca", id.site.CA, "--cert", id.site.Cert, "--key", id.site.Key}
	for _, tc := range []struct {
		name  string
		args  []string
		first string // stderr's first line
		all   string // or, if set, all of stderr
	}{
		{name: "location not a position", args: []string{"--location", "north"},
			first: `invalid value "north" for flag -location: position "north": want LAT,LON in decimal degrees (e.g. 49.6116,6.1319)`},
		{name: "location out of range", args: []string{"--location", "91,0"},
			first: `invalid value "91,0" for flag -location: position 91,0: latitude must be in -90..90 and longitude in -180..180`},
		{name: "hardware key for sites", args: []string{"--require-hardware-key", "site"},
			first: `invalid value "site" for flag -require-hardware-key: site certificates are not clients`},
		{name: "hardware key for no role", args: []string{"--require-hardware-key", "root"},
			first: `invalid value "root" for flag -require-hardware-key: unknown role "root": use home, auditor, operator or site`},
		{name: "capacity file missing", args: append(append([]string{}, certs...), "--capacity", noCap),
			all: "embassyd: error: --capacity: open " + noCap + ": no such file or directory\n"},
		{name: "capacity file invalid", args: append(append([]string{}, certs...), "--capacity", badCap),
			all: "embassyd: error: --capacity " + badCap + ": capacity file: yaml: unmarshal errors:\n  line 1: cannot unmarshal !!str `nine` into []compute.GPUs\n" +
				"embassyd: hint: see docs/COMPUTE.md for the capacity file's fields\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr strings.Builder
			code := Main(t.Context(), tc.args, &stderr)
			if code != 2 {
				t.Fatalf("exit %d, want 2\n%s", code, stderr.String())
			}
			got := stderr.String()
			if tc.all != "" {
				if got != tc.all {
					t.Fatalf("stderr\n%s\nwant\n%s", got, tc.all)
				}
				return
			}
			if first, _, _ := strings.Cut(got, "\n"); first != tc.first {
				t.Fatalf("stderr's first line\n%s\nwant\n%s", first, tc.first)
			}
		})
	}
}

// lineLog is a stderr for Main that the test reads while Main runs: it
// hands over the daemon's address once it is logged.
type lineLog struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	addr chan string
}

var addrRE = regexp.MustCompile(`msg="embassy daemon" .* addr=(\S+)`)

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if m := addrRE.FindSubmatch(p); m != nil {
		select {
		case l.addr <- string(m[1]):
		default:
		}
	}
	return l.buf.Write(p)
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestCoverMainServesFactsUntilCancelled: Main with the host's declared
// location serves until its context ends and exits 0. The facts it signs
// for the home carry --location, --place and --jurisdiction; at
// --log-level debug a refused request is logged.
func TestCoverMainServesFactsUntilCancelled(t *testing.T) {
	id := newIdentities(t)
	dir := t.TempDir()
	_, logKey, err := note.GenerateKey(rand.Reader, "example.invalid/log")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--listen", "127.0.0.1:0", "--store", filepath.Join(dir, "store"), "--create",
		"--ca", id.site.CA, "--cert", id.site.Cert, "--key", id.site.Key, "--drain", "5s", "--log-level", "debug",
		"--location", "49.6116,6.1319", "--place", "Luxembourg, LU-1", "--jurisdiction", "LU", "--require-hardware-key", "operator",
		"--witness-listen", "127.0.0.1:0", "--witness-dir", filepath.Join(dir, "witness"), "--witness-log", logKey, "--witness-plain-http"}
	stderr := &lineLog{addr: make(chan string, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- Main(ctx, args, stderr) }()
	var addr string
	select {
	case addr = <-stderr.addr:
	case code := <-done:
		t.Fatalf("Main exited %d before serving:\n%s", code, stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("no daemon address within 30s:\n%s", stderr)
	}

	hc := id.httpClient(t, id.client)
	nonce := strings.Repeat("ab", 32)
	resp, err := hc.Post("https://"+addr+"/v1/facts", "application/json", strings.NewReader(`{"nonce":"`+nonce+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var signed locate.Signed
	err = json.NewDecoder(resp.Body).Decode(&signed)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("facts: %d, %v", resp.StatusCode, err)
	}
	body, err := base64.StdEncoding.DecodeString(signed.Body)
	if err != nil {
		t.Fatal(err)
	}
	var f locate.Facts
	if err := json.Unmarshal(body, &f); err != nil {
		t.Fatal(err)
	}
	if f.Site != "lu" || f.Home != id.home || f.Nonce != nonce || f.Declared == nil || *f.Declared != (locate.Point{Lat: 49.6116, Lon: 6.1319}) ||
		f.Place != "Luxembourg, LU-1" || f.Jurisdiction != "LU" {
		t.Fatalf("facts %+v", f)
	}
	resp, err = hc.Post("https://"+addr+"/v1/facts", "application/json", strings.NewReader(`{"nonce":"short"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("facts with a short nonce: %d, want 400", resp.StatusCode)
	}
	hc.CloseIdleConnections()
	// --require-hardware-key operator: a software-key operator is refused.
	_, opsPair := id.issue(t, pki.RoleOperator, "ops")
	if resp, err := id.httpClient(t, opsPair).Get("https://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("a software-key operator certificate got %d", resp.StatusCode)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("Main exited %d after its context ended:\n%s", code, stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Main did not return within 30s of its context ending")
	}
	if out := stderr.String(); !strings.Contains(out, `level=DEBUG msg="request failed" route=facts status=400`) {
		t.Fatalf("no debug record of the refused facts request:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "witness")); err != nil {
		t.Fatalf("the witness was not started: %v", err)
	}
}
