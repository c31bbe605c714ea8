package tlog

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digital-embassy/embassy/internal/witness"
)

func TestHomeAlone(t *testing.T) {
	te := newTestEnv(t, "home")
	if !te.policy.HomeAlone() || te.policy.RequireExternal() == nil || len(te.policy.External()) != 0 {
		t.Fatal("a policy of home witnesses only is not reported as home-alone")
	}
	base := string(te.policy.Text)
	base = base[:strings.Index(base, "group ")]
	for _, tc := range []struct {
		lines string
		alone bool
	}{
		{"witness lu " + testVKey(t, "lu") + " https://lu.example:7380\ngroup q all home home-pq lu\nquorum q\n", false},
		{"witness lu " + testVKey(t, "lu") + " https://lu.example:7380\ngroup q any home lu\nquorum q\n", true},
		{"witness lu " + testVKey(t, "lu") + " https://lu.example:7380\ngroup h all home home-pq\ngroup q 2 h lu\nquorum q\n", false},
		{"witness lu " + testVKey(t, "lu") + " https://lu.example:7380\ngroup q all home\nquorum q\n", true},
		{"quorum none\n", true},
	} {
		p, err := ParsePolicy([]byte(base + tc.lines))
		if err != nil {
			t.Fatalf("%q: %v", tc.lines, err)
		}
		if p.HomeAlone() != tc.alone || (p.RequireExternal() == nil) == tc.alone {
			t.Errorf("%q: home alone %t, want %t (%v)", tc.lines, p.HomeAlone(), tc.alone, p.RequireExternal())
		}
	}
}

func testVKey(t *testing.T, name string) string {
	_, v, err := witness.LoadOrCreateKey(t.TempDir(), "witness-"+name, witness.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The home (or whoever holds its keys and disk) tries to rewrite history:
// after a receipt for entry 0 was handed out, it wipes its tiles and its
// own witnesses' state and logs a different entry 0. With a host witness
// in the pinned policy's quorum, that witness refuses (a fork, with an
// alert) and no second receipt for index 0 verifies against the pinned
// policy. The same move against a home-only policy succeeds, which is why
// HomeAlone warns about it.
func TestHomeCannotRewriteHistoryWithHostWitness(t *testing.T) {
	for _, withHost := range []bool{true, false} {
		t.Run(fmt.Sprintf("host-witness=%t", withHost), func(t *testing.T) {
			ctx := context.Background()
			te := newTestEnv(t, "home")
			hostDir := filepath.Join(t.TempDir(), "lu")
			s, vkey, err := witness.LoadOrCreateKey(hostDir, "witness-lu", witness.Ed25519)
			if err != nil {
				t.Fatal(err)
			}
			hw, err := witness.New(witness.Config{Dir: hostDir, Signer: s, Logs: []string{te.logVKey}})
			if err != nil {
				t.Fatal(err)
			}
			hs := httptest.NewServer(hw.Handler())
			defer hs.Close()
			text := string(te.policy.Text)
			if withHost {
				text = strings.Replace(text, "group q all home home-pq", "group q all home home-pq lu", 1)
				text = strings.Replace(text, "group q", fmt.Sprintf("witness lu %s %s\ngroup q", vkey, hs.URL), 1)
			}
			pinned, err := ParsePolicy([]byte(text))
			if err != nil {
				t.Fatal(err)
			}
			if pinned.HomeAlone() == withHost {
				t.Fatalf("HomeAlone = %t with host witness %t", pinned.HomeAlone(), withHost)
			}
			te.policy = pinned
			l := te.openTimeout(t, 3*time.Second)
			a := testEntry(1)
			if _, _, err := l.Append(ctx, a); err != nil {
				t.Fatal(err)
			}
			l.Close(ctx)
			r1, err := NewReader(filepath.Join(te.dir, "log"), pinned).Receipt(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}

			// Rewrite: wipe the tiles and the home witnesses' state.
			for _, d := range []string{filepath.Join(te.dir, "log"), filepath.Join(te.dir, "w-home", "state"), filepath.Join(te.dir, "w-home-pq", "state")} {
				if err := os.RemoveAll(d); err != nil {
					t.Fatal(err)
				}
			}
			os.MkdirAll(filepath.Join(te.dir, "w-home", "state"), 0o700)
			os.MkdirAll(filepath.Join(te.dir, "w-home-pq", "state"), 0o700)
			signer, _, err := LoadOrCreateKey(te.dir, te.origin)
			if err != nil {
				t.Fatal(err)
			}
			var appendErr error
			l, err = Open(ctx, filepath.Join(te.dir, "log"), Options{Signer: signer, Policy: pinned, Local: te.local, PublishTimeout: 3 * time.Second, WitnessTimeout: 3 * time.Second})
			if err != nil {
				appendErr = fmt.Errorf("%w: %w", ErrNotWitnessed, err) // even the empty checkpoint is refused
			} else {
				_, _, appendErr = l.Append(ctx, testEntry(2))
				l.Close(ctx)
			}
			r2, recErr := NewReader(filepath.Join(te.dir, "log"), pinned).Receipt(ctx, 0)
			var second error = recErr
			if recErr == nil {
				e2, _, err := VerifyReceipt(r2, pinned)
				second = err
				if err == nil && e2.Entry.Dataset == a.Dataset {
					t.Fatal("the rewritten log still holds the first entry")
				}
			}
			e1, _, err := VerifyReceipt(r1, pinned)
			if err != nil || e1.Entry.Dataset != a.Dataset {
				t.Fatalf("the first receipt: %v", err)
			}
			if !withHost {
				if appendErr != nil || second != nil {
					t.Fatalf("control: the home alone rewrote history? append %v, second receipt %v", appendErr, second)
				}
				return // two receipts for index 0 both verify: the attack works against a home-only policy
			}
			if !errors.Is(appendErr, ErrNotWitnessed) {
				t.Fatalf("rewritten entry was witnessed: %v", appendErr)
			}
			if second == nil {
				t.Fatal("two different receipts for index 0 both verify against the pinned policy")
			}
			as, _ := witness.ReadAlerts(hostDir)
			if len(as) == 0 || (as[len(as)-1].Kind != "fork" && as[len(as)-1].Kind != "rollback") {
				t.Fatalf("host witness raised no fork or rollback alert: %+v", as)
			}
		})
	}
}
