package broker

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/repo"
)

// The vault view follows the home's newest root epoch: reopened once per
// new epoch, kept when the reopened view's epoch did not advance (the
// signed state is the authority), retried after a failed reopen.
func TestVaultKeysViewFollowsRotation(t *testing.T) {
	root := func(ep uint32) *keys.Root {
		r, err := keys.RootFromSecret(ep, bytes.Repeat([]byte{byte(ep)}, 32))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	newest, reopenEpoch := uint32(1), uint32(1)
	var reopens int
	var fail error
	v := &VaultKeys{Root: root(1),
		Newest: func() uint32 { return newest },
		Reopen: func(context.Context) (*repo.Repo, *keys.Root, error) {
			reopens++
			if fail != nil {
				return nil, nil, fail
			}
			return nil, root(reopenEpoch), nil
		}}
	ctx := context.Background()
	epoch := func() uint32 {
		t.Helper()
		_, r, err := v.view(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return r.Epoch
	}
	if epoch() != 1 || reopens != 0 {
		t.Fatalf("no rotation: epoch %d, %d reopens", v.Root.Epoch, reopens)
	}
	newest, reopenEpoch = 2, 2
	if epoch() != 2 || epoch() != 2 || reopens != 1 {
		t.Fatalf("after rotation to 2: epoch %d, %d reopens", v.Root.Epoch, reopens)
	}
	// A root file for epoch 3 whose rotation the signed state does not
	// (yet) show: the view stays at 2, and is not reopened on every request.
	newest = 3
	if epoch() != 2 || epoch() != 2 || reopens != 2 {
		t.Fatalf("epoch 3 not in the state: epoch %d, %d reopens", v.Root.Epoch, reopens)
	}
	// A failed reopen is an error for that request and is retried.
	newest, fail = 4, errors.New("site down")
	if _, _, err := v.view(ctx); err == nil {
		t.Fatal("a failed reopen was not reported")
	}
	fail, reopenEpoch = nil, 4
	if epoch() != 4 || reopens != 4 {
		t.Fatalf("after the failed reopen: epoch %d, %d reopens", v.Root.Epoch, reopens)
	}
}
