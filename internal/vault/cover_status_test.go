package vault

import (
	"context"
	"testing"

	"github.com/digital-embassy/embassy/internal/hint"
)

// TestCoverRedactURL: passwords and secret query parameters are shown
// redacted and scrubbed from later text in every encoding; key-file
// paths stay; an unparseable URL loses everything before its last '@'.
func TestCoverRedactURL(t *testing.T) {
	shown, scrub := RedactURL("s3://AKIA:pa55word@host/bucket?region=eu&secret_key=s3cr3t/x&keyfile=/k")
	if want := "s3://AKIA:%5Bredacted%5D@host/bucket?keyfile=%2Fk&region=eu&secret_key=%5Bredacted%5D"; shown != want {
		t.Errorf("shown %q, want %q", shown, want)
	}
	if got := scrub("auth pa55word failed for s3cr3t%2Fx and s3cr3t/x"); got != "auth [redacted] failed for [redacted] and [redacted]" {
		t.Errorf("scrubbed %q", got)
	}
	shown, scrub = RedactURL("sftp://user:p@ss@host:22/%zz")
	if shown != "sftp://[redacted]@host:22/%zz" || scrub("login user:p@ss") != "login [redacted]" {
		t.Errorf("unparseable: shown %q, scrubbed %q", shown, scrub("login user:p@ss"))
	}
}

// TestCoverExplain: a class given explains placement over every site; a
// bad class is a usage error; a dataset with no snapshot and no class
// says to pass --class.
func TestCoverExplain(t *testing.T) {
	dir, o := newVault(t, "lu=LU", "ch=CH")
	v := open(t, dir, o)
	ctx := context.Background()
	p, err := v.Explain(ctx, ExplainRequest{Dataset: "registry", Class: "C2-I3-A3"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Dataset.Class != "C2-I3-A3" || len(p.Sites) != 2 || p.Sites[0].Site.Name != "lu" || p.Sites[1].Site.Name != "ch" {
		t.Fatalf("placement %+v", p)
	}
	_, err = v.Explain(ctx, ExplainRequest{Dataset: "registry", Class: "C9"})
	wantCode(t, err, hint.CodeUsage, `invalid classification "C9": use C<0-3>-I<0-3>-A<0-3> (confidentiality, integrity, availability; e.g. C2-I3-A3) or one of public, internal, restricted, secret`, "")
	_, err = v.Explain(ctx, ExplainRequest{Dataset: "registry"})
	wantCode(t, err, hint.CodeError, `dataset "registry" not found`, "pass --class LABEL to explain a dataset that does not exist yet")
}
