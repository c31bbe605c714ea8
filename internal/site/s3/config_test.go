package s3

import (
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/digital-embassy/embassy/internal/site/sitetest"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Config // zero: an error
		loc  string
	}{
		{"s3://127.0.0.1:18733/embassy-test?tls=false",
			Config{Endpoint: "127.0.0.1:18733", Insecure: true, Region: "us-east-1", Bucket: "embassy-test"},
			"s3://127.0.0.1:18733/embassy-test?tls=false"},
		{"s3://s3.example.eu/vault/ee/tallinn/?region=eu-north-1",
			Config{Endpoint: "s3.example.eu", Region: "eu-north-1", Bucket: "vault", Prefix: "ee/tallinn"},
			"s3://s3.example.eu/vault/ee/tallinn?region=eu-north-1"},
		{"s3://AKID:se%2Fcr%3Aet@host:9000/bkt",
			Config{Endpoint: "host:9000", Region: "us-east-1", Bucket: "bkt", AccessKey: "AKID", SecretKey: "se/cr:et"},
			"s3://host:9000/bkt"},
		{"s3://host/bkt?tls=true", Config{Endpoint: "host", Region: "us-east-1", Bucket: "bkt"}, "s3://host/bkt"},
		{"s3://host", Config{}, ""},
		{"s3://host/", Config{}, ""},
		{"s3://host/Bad_Bucket", Config{}, ""},
		{"s3:///bkt", Config{}, ""},
		{"http://host/bkt", Config{}, ""},
		{"s3://host/bkt?tls=maybe", Config{}, ""},
		{"s3://host/bkt?colour=red", Config{}, ""},
		{"s3://host/bkt/a//b", Config{}, ""},
		{"s3://AKID@host/bkt", Config{}, ""},
		{"s3://AKID:@host/bkt", Config{}, ""},
	} {
		got, err := ParseConfig(tc.in)
		if tc.want == (Config{}) {
			if err == nil {
				t.Errorf("ParseConfig(%q) = %+v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseConfig(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(Config{}, "HTTPClient")); diff != "" {
			t.Errorf("ParseConfig(%q) (-want +got):\n%s", tc.in, diff)
		}
		if loc := got.Location(); loc != tc.loc {
			t.Errorf("ParseConfig(%q).Location() = %q, want %q", tc.in, loc, tc.loc)
		}
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	const secret = "hunter2-Very-Secret"
	for _, in := range []string{
		"s3://AKID:" + secret + "@host/bkt",
		"s3://AKID:" + secret + "@host/bkt?colour=red",
		"s3://AKID:" + secret + "%zz@host/bkt",
		"s3://AKID:" + secret + "/x@host/BAD",
		"s3://AKID:" + secret + "@host/BAD",
	} {
		cfg, err := ParseConfig(in)
		for _, s := range []string{fmt.Sprint(err), cfg.Location(), fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg)} {
			if strings.Contains(s, secret) || strings.Contains(s, "hunter2") {
				t.Errorf("ParseConfig(%q): secret leaked in %q", in, s)
			}
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{"s3://h/bkt", "s3://k:s@h:1/bkt/p?tls=false&region=x", "s3://h", "s3:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := ParseConfig(s)
		if err != nil {
			if cfg.SecretKey != "" {
				t.Error("error with a secret set")
			}
			return
		}
		if cfg.Endpoint == "" || validBucket(cfg.Bucket) != nil {
			t.Errorf("ParseConfig(%q) = %+v without error", s, cfg)
		}
		if u, err := url.Parse(cfg.Location()); err != nil || u.User != nil {
			t.Errorf("Location %q: %v, or holds credentials", cfg.Location(), err)
		}
	})
}

func TestPayloadBody(t *testing.T) {
	p := sitetest.Gen{Seed: 1, N: 1000}
	want, _ := io.ReadAll(p.NewReader())
	b := &payloadBody{p: p}
	if n, _ := b.Seek(0, io.SeekEnd); n != 1000 {
		t.Fatalf("Seek end = %d", n)
	}
	b.Seek(0, io.SeekStart)
	got, err := io.ReadAll(b)
	if err != nil || !cmp.Equal(got, want) {
		t.Fatalf("read after seek: %v", err)
	}
	b.Seek(990, io.SeekStart)
	got, _ = io.ReadAll(b)
	if !cmp.Equal(got, want[990:]) {
		t.Errorf("read at 990: got %d bytes", len(got))
	}
	b.Seek(-5, io.SeekCurrent)
	got, _ = io.ReadAll(b)
	if !cmp.Equal(got, want[995:]) {
		t.Errorf("read at end-5: got %d bytes", len(got))
	}
}

func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		in         string
		start, end int64
		ok         bool
	}{
		{"bytes 0-9/10", 0, 9, true},
		{"bytes 990-999/1000", 990, 999, true},
		{"bytes */1000", 0, 0, false},
		{"", 0, 0, false},
	} {
		s, e, ok := parseContentRange(tc.in)
		if s != tc.start || e != tc.end || ok != tc.ok {
			t.Errorf("parseContentRange(%q) = %d, %d, %v", tc.in, s, e, ok)
		}
	}
}
