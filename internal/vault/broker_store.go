package vault

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/digital-embassy/embassy/internal/broker"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/strict"
	"github.com/digital-embassy/embassy/internal/tlog"
)

// The key broker's state in the home (BrokerDir): reference values signed
// with the root's signing key, staged then approved; workload identities
// pinned to sites; revocations. Every change is logged as a policy change.

// brokerStore opens the home's broker folder, trusting reference values
// signed by any verified root epoch, and returns the current root's
// signing key.
func (v *Vault) brokerStore(ctx context.Context) (*broker.Store, ed25519.PrivateKey, error) {
	r, err := v.OpenRepo(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	defer closeSites(r)
	root, err := v.Home.LoadRoot(r.CurrentEpoch().Epoch)
	if err != nil {
		return nil, nil, err
	}
	st, err := broker.NewStore(BrokerDir(v.Home), BrokerPublishers(r))
	return st, root.Signer(), err
}

// SignBrokerRefs signs the reference values in file (broker.RefValues as
// JSON: one object, no unknown field, nothing after it) with the home's
// current root signing key and returns the signed document, indented and
// ending in a newline. A file that is not such a document, or values
// that are not valid, are usage errors naming the file.
func (v *Vault) SignBrokerRefs(ctx context.Context, file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var rv broker.RefValues
	if err := strict.JSON(b, &rv); err != nil {
		return nil, hint.WithCode(fmt.Errorf("%s: %w", file, err), hint.CodeUsage)
	}
	_, key, err := v.brokerStore(ctx)
	if err != nil {
		return nil, err
	}
	s, err := broker.SignRefs(rv, key)
	if err != nil {
		return nil, hint.WithCode(err, hint.CodeUsage)
	}
	enc, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(enc, '\n'), nil
}

// StageBrokerRefs verifies the signed reference values in file (signed by
// a root epoch of this home) and stages them for approval. Values that do
// not verify are damaged (hint.CodeDamaged).
func (v *Vault) StageBrokerRefs(ctx context.Context, file string) (*broker.SignedRefs, error) {
	st, _, err := v.brokerStore(ctx)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	r, err := st.AddRefs(b)
	if err != nil {
		return nil, hint.WithCode(err, hint.CodeDamaged)
	}
	return r, nil
}

// ApproveBrokerRefs approves staged reference values (workloads matching
// them may receive keys) and logs it, with the digest of the measurements.
func (v *Vault) ApproveBrokerRefs(ctx context.Context, name string) (*broker.SignedRefs, error) {
	st, _, err := v.brokerStore(ctx)
	if err != nil {
		return nil, err
	}
	r, err := st.ApproveRefs(name)
	if err != nil {
		return nil, hint.WithCode(err, hint.CodeUsage)
	}
	v.Recorder().Audit(ctx, tlog.Entry{Kind: tlog.KindPolicyChange, Object: "refs:" + r.Name, Reason: "refs-approve",
		Details: map[string]string{"tee": r.TEE, "measurements": broker.MeasurementsDigest(r.Measurements)}})
	return r, nil
}

// BrokerRef is one set of reference values in the home.
type BrokerRef struct {
	State        string // "approved" or "pending"
	Name         string
	TEE          string
	Measurements int
	Digest       string // broker.MeasurementsDigest, as logged
}

// BrokerRefList is the home's reference values: by name, as stored, and
// as rows (approved first, then by name).
type BrokerRefList struct {
	Approved, Pending map[string]*broker.SignedRefs
	Rows              []BrokerRef
}

// BrokerRefs lists the approved and pending reference values.
func (v *Vault) BrokerRefs(ctx context.Context) (*BrokerRefList, error) {
	st, _, err := v.brokerStore(ctx)
	if err != nil {
		return nil, err
	}
	s, err := st.Load()
	if err != nil {
		return nil, err
	}
	out := &BrokerRefList{Approved: s.Approved, Pending: s.Pending}
	for _, set := range []struct {
		state string
		m     map[string]*broker.SignedRefs
	}{{"approved", s.Approved}, {"pending", s.Pending}} {
		var rows []BrokerRef
		for name, r := range set.m {
			rows = append(rows, BrokerRef{State: set.state, Name: name, TEE: r.TEE, Measurements: len(r.Measurements), Digest: broker.MeasurementsDigest(r.Measurements)})
		}
		slices.SortFunc(rows, func(a, b BrokerRef) int { return cmp.Compare(a.Name, b.Name) })
		out.Rows = append(out.Rows, rows...)
	}
	return out, nil
}

// PinWorkload pins a workload identity (a TPM attestation key
// fingerprint) to a site of the registry and logs it.
func (v *Vault) PinWorkload(ctx context.Context, name, identity, site string) error {
	if sc, _ := v.Home.Site(site); sc == nil {
		return hint.WithCode(fmt.Errorf("site %q is not in the registry: see 'embassy site list'", site), hint.CodeUsage)
	}
	st, _, err := v.brokerStore(ctx)
	if err != nil {
		return err
	}
	if err := st.AddWorkload(broker.Workload{Name: name, Identity: identity, Site: site}); err != nil {
		return hint.WithCode(err, hint.CodeUsage)
	}
	v.Recorder().Audit(ctx, tlog.Entry{Kind: tlog.KindPolicyChange, Object: "workload:" + name, Site: site, Reason: "workload-add",
		Details: map[string]string{"identity": identity}})
	return nil
}

// RevokeBroker stops every further release to a measurement, site or
// workload, or of a dataset (kind), at once, and logs it.
func (v *Vault) RevokeBroker(ctx context.Context, kind, value string) error {
	st, _, err := v.brokerStore(ctx)
	if err != nil {
		return err
	}
	if err := st.Revoke(kind, value); err != nil {
		return hint.WithCode(err, hint.CodeUsage)
	}
	v.Recorder().Audit(ctx, tlog.Entry{Kind: tlog.KindPolicyChange, Object: kind + ":" + value, Reason: "broker-revoke"})
	return nil
}

// UnsignedRefs are reference values for measurements a workload read on
// its own machine, to review, sign ('embassy broker refs sign') and
// publish. Values that are not valid are usage errors.
func UnsignedRefs(name, tee, description string, issued time.Time, m map[string]string) (*broker.RefValues, error) {
	rv := &broker.RefValues{Format: broker.RefsFormat, Name: name, TEE: tee, Issued: issued, Description: description, Measurements: m}
	if err := rv.Validate(); err != nil {
		return nil, hint.WithCode(err, hint.CodeUsage)
	}
	return rv, nil
}
