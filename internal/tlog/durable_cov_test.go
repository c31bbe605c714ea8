package tlog

import (
	"context"
	"path/filepath"
	"testing"
)

// TestAppendDurable: the index comes back once the entry is sequenced;
// wait returns the checkpoint that covers it, cosigned by the quorum; the
// reader then decodes exactly that entry at that index.
func TestAppendDurable(t *testing.T) {
	te := newTestEnv(t, "home", "lu")
	ctx := context.Background()
	l := te.open(t)
	if _, _, err := l.Append(ctx, testEntry(0)); err != nil {
		t.Fatal(err)
	}
	idx, wait, err := l.AppendDurable(ctx, testEntry(1))
	if err != nil {
		t.Fatal(err)
	}
	if idx != 1 {
		t.Fatalf("durable index %d, want 1", idx)
	}
	cp, err := wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := te.policy.Cosigners(cp); len(got) != 3 {
		t.Fatalf("cosigners %v", got)
	}
	c, err := te.policy.VerifyCheckpoint(cp)
	if err != nil || c.Size < 2 {
		t.Fatalf("checkpoint covering the entry: %v size %d", err, c.Size)
	}
	if te.policy.Origin() != te.origin {
		t.Fatalf("origin %q, want %q", te.policy.Origin(), te.origin)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	r := NewReader(filepath.Join(te.dir, "log"), te.policy)
	ents, err := r.Entries(ctx, c.Size, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Index != 1 || ents[0].Dataset != testEntry(1).Dataset || ents[0].Object != testEntry(1).Object {
		t.Fatalf("entry 1: %+v", ents)
	}
	if _, err := r.Entries(ctx, c.Size, c.Size, 1); err == nil {
		t.Fatal("read an entry beyond the tree")
	}
}
