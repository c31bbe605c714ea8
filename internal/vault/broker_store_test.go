package vault

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/digital-embassy/embassy/internal/broker"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// The broker's state through the vault: reference values signed with the
// root key, staged, approved and listed; a workload pinned to a site of
// the registry; a revocation; each change logged and each refusal named.
func TestBrokerStore(t *testing.T) {
	dir, o := newVault(t, "lu=LU")
	v := open(t, dir, o)
	ctx := context.Background()
	tmp := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	values := `{"format":"embassy.refs.v1","name":"%s","tee":"tpm","issued":"2026-11-25T10:00:00Z","measurements":{"pcr.sha256.7":"` + strings.Repeat("ab", 32) + `"}}`
	for _, n := range []string{"inference-v1", "batch-v2"} {
		signed, err := v.SignBrokerRefs(ctx, write(n+".json", strings.Replace(values, "%s", n, 1)))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(string(signed), "}\n") {
			t.Fatalf("signed document does not end in a newline: %q", signed)
		}
		var s broker.SignedRefs
		if err := json.Unmarshal(signed, &s); err != nil || s.Name != n || s.Signature == nil {
			t.Fatalf("signed %s: %+v %v", n, s, err)
		}
		r, err := v.StageBrokerRefs(ctx, write(n+".signed.json", string(signed)))
		if err != nil || r.Name != n || r.TEE != "tpm" || len(r.Measurements) != 1 {
			t.Fatalf("staged %+v: %v", r, err)
		}
	}
	if _, err := v.ApproveBrokerRefs(ctx, "inference-v1"); err != nil {
		t.Fatal(err)
	}
	list, err := v.BrokerRefs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	digest := broker.MeasurementsDigest(map[string]string{"pcr.sha256.7": strings.Repeat("ab", 32)})
	want := []BrokerRef{{"approved", "inference-v1", "tpm", 1, digest}, {"pending", "batch-v2", "tpm", 1, digest}}
	if d := cmp.Diff(want, list.Rows); d != "" || len(list.Approved) != 1 || len(list.Pending) != 1 {
		t.Fatalf("refs (-want +got):\n%s", d)
	}
	if err := v.PinWorkload(ctx, "infer", strings.Repeat("1", 64), "lu"); err != nil {
		t.Fatal(err)
	}
	if err := v.RevokeBroker(ctx, "site", "lu"); err != nil {
		t.Fatal(err)
	}
	ents := logEntries(t, dir, o)
	var got []string
	for _, e := range ents {
		if e.Kind == tlog.KindPolicyChange {
			got = append(got, e.Reason+" "+e.Object+" "+e.Details["measurements"]+e.Details["identity"])
		}
	}
	wantLog := []string{"refs-approve refs:inference-v1 " + digest, "workload-add workload:infer " + strings.Repeat("1", 64), "broker-revoke site:lu "}
	if d := cmp.Diff(wantLog, got); d != "" {
		t.Fatalf("logged (-want +got):\n%s", d)
	}

	// Refusals.
	trailing := write("trailing.json", strings.Replace(values, "%s", "x", 1)+" {}")
	_, err = v.SignBrokerRefs(ctx, trailing)
	wantErr(t, "trailing value", err, trailing+": trailing data", "", hint.CodeUsage)
	unknown := write("unknown.json", `{"format":"embassy.refs.v1","extra":1}`)
	_, err = v.SignBrokerRefs(ctx, unknown)
	wantErr(t, "unknown field", err, unknown+`: json: unknown field "extra"`, "", hint.CodeUsage)
	_, err = v.SignBrokerRefs(ctx, write("bad.json", strings.Replace(values, "%s", "Bad Name", 1)))
	wantErr(t, "invalid values", err, `reference values name "Bad Name": use 1-64 lowercase letters, digits, '.', '_' or '-'`, "", hint.CodeUsage)
	_, err = v.StageBrokerRefs(ctx, write("unsigned.json", strings.Replace(values, "%s", "x", 1)))
	if err == nil || hint.CodeOf(err) != hint.CodeDamaged {
		t.Fatalf("unsigned values staged: %v (code %v)", err, hint.CodeOf(err))
	}
	_, err = v.ApproveBrokerRefs(ctx, "nothing")
	wantErr(t, "approve unknown", err, "no pending reference values named nothing: stage them with 'embassy broker refs add FILE'", "", hint.CodeUsage)
	err = v.PinWorkload(ctx, "w", strings.Repeat("2", 64), "nope")
	wantErr(t, "unknown site", err, `site "nope" is not in the registry: see 'embassy site list'`, "", hint.CodeUsage)
	err = v.PinWorkload(ctx, "infer", strings.Repeat("3", 64), "lu")
	wantErr(t, "pinned twice", err, "workload infer (identity 1111111111111111…) is already pinned", "", hint.CodeUsage)
	err = v.RevokeBroker(ctx, "planet", "x")
	wantErr(t, "unknown kind", err, `revoke "planet": want measurement, site, workload or dataset`, "", hint.CodeUsage)
}

func TestUnsignedRefs(t *testing.T) {
	m := map[string]string{"pcr.sha256.0": "00"}
	rv, err := UnsignedRefs("v1", "tpm", "image 1", testNow, m)
	if err != nil || rv.Format != broker.RefsFormat || rv.Name != "v1" || rv.TEE != "tpm" || !rv.Issued.Equal(testNow) || rv.Description != "image 1" {
		t.Fatalf("%+v %v", rv, err)
	}
	_, err = UnsignedRefs("v1", "tpm", "", testNow, nil)
	wantErr(t, "no measurements", err, "reference values v1: 0 measurements: want 1 to 256", "", hint.CodeUsage)
}
