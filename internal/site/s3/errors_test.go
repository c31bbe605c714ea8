package s3

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/site"
)

// fakeS3 answers just enough of S3 to open a bucket, then fails object
// requests according to the key, so error mapping is tested hermetically.
func fakeS3(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	key := strings.TrimPrefix(r.URL.Path, "/bkt/p/data/")
	fail := func(status int, code string) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>m</Message></Error>`, code)
		}
	}
	switch {
	case r.URL.Path == "/bkt" && r.URL.Query().Has("object-lock"):
		fail(404, "ObjectLockConfigurationNotFoundError")
	case r.URL.Path == "/bkt" && r.URL.Query().Has("versioning"):
		fmt.Fprint(w, `<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>`)
	case r.URL.Path == "/bkt":
		w.WriteHeader(200)
	case key == "exists":
		fail(412, "PreconditionFailed")
	case key == "missing":
		fail(404, "NoSuchKey")
	case key == "forbidden":
		fail(403, "AccessDenied")
	case key == "busy":
		fail(503, "SlowDown")
	case key == "timeout":
		fail(400, "RequestTimeout")
	default:
		fail(500, "InternalError")
	}
}

func TestErrorMapping(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(fakeS3))
	defer srv.Close()
	b, err := New(t.Context(), Config{
		Endpoint: strings.TrimPrefix(srv.URL, "http://"), Insecure: true, Bucket: "bkt", Prefix: "p",
		AccessKey: "k", SecretKey: "s",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if p := b.Properties(); p.ObjectLock || b.versioned {
		t.Errorf("lock %v, versioned %v; want neither", p.ObjectLock, b.versioned)
	}
	for _, tc := range []struct {
		key       string
		want      error // nil: no sentinel
		permanent bool
	}{
		{"exists", site.ErrExists, true},
		{"missing", site.ErrNotFound, true},
		{"forbidden", nil, true},
		{"busy", nil, false},
		{"timeout", nil, false},
	} {
		h := site.Handle{Kind: site.KindPack, Name: tc.key}
		var err error
		switch tc.key {
		case "exists":
			err = b.Put(t.Context(), h, site.Bytes("x"), site.PutOptions{IfAbsent: true})
		case "missing": // HEAD replies carry no error code
			_, err = b.Stat(t.Context(), h)
		default:
			err = b.Get(t.Context(), h, 0, 0, func(io.Reader) error { return nil })
		}
		if err == nil || tc.want != nil && !errors.Is(err, tc.want) || site.IsPermanent(err) != tc.permanent {
			t.Errorf("%s: got %v (permanent %v), want %v (permanent %v)", tc.key, err, site.IsPermanent(err), tc.want, tc.permanent)
		}
	}
}
