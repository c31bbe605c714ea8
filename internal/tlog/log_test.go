package tlog

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
)

func TestAppendReadReceiptBundle(t *testing.T) {
	te := newTestEnv(t, "home", "lu")
	ctx := context.Background()
	l := te.open(t)
	idx, cp, err := l.Append(ctx, testEntry(0))
	if err != nil {
		t.Fatal(err)
	}
	if idx != 0 {
		t.Fatalf("first index %d", idx)
	}
	if got := te.policy.Cosigners(cp); len(got) != 3 {
		t.Fatalf("cosigners %v, want home, home-pq, lu", got)
	}
	var wg sync.WaitGroup
	for i := 1; i < 300; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := l.Append(ctx, testEntry(i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	r := NewReader(filepath.Join(te.dir, "log"), te.policy)
	c, ents, err := r.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Size != 300 || len(ents) != 300 {
		t.Fatalf("size %d, %d entries", c.Size, len(ents))
	}
	rc, err := r.Receipt(ctx, 257)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := VerifyReceipt(rc, te.policy)
	if err != nil || got.Index != 257 {
		t.Fatalf("verify receipt: %v %d", err, got.Index)
	}
	b, err := r.Export(ctx, testEntry(10).Time, testEntry(20).Time, te.signer(t))
	if err != nil {
		t.Fatal(err)
	}
	_, es, err := VerifyBundle(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) < 11 {
		t.Fatalf("bundle has %d entries", len(es))
	}
	if _, err := r.Check(ctx); err != nil {
		t.Fatal(err)
	}
}
