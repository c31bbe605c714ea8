package s3

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Secret is a string that never prints.
type Secret string

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

func (s Secret) GoString() string { return `"` + s.String() + `"` }

// Config describes an S3-compatible site. Buckets are addressed path-style.
type Config struct {
	Endpoint  string // HOST[:PORT]
	Insecure  bool   // plain HTTP instead of HTTPS (tls=false)
	Region    string // default us-east-1
	Bucket    string
	Prefix    string // key prefix inside the bucket, without slashes at the ends
	AccessKey string // empty: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from the environment
	SecretKey Secret

	Name         string
	Jurisdiction string
	Connections  int  // concurrent requests; default 8
	CreateBucket bool // create the bucket if missing

	// Objects larger than MultipartThreshold (default 64 MiB) are uploaded in
	// parts of PartSize (default 16 MiB, at least 5 MiB), one part in memory
	// at a time.
	MultipartThreshold int64
	PartSize           int64

	HTTPClient *http.Client // optional
}

const defaultRegion = "us-east-1"

// ParseConfig parses s3://[KEY:SECRET@]HOST[:PORT]/BUCKET[/PREFIX][?tls=false&region=R].
// Errors never contain the secret.
func ParseConfig(s string) (Config, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Config{}, fmt.Errorf("invalid s3 url %q", redactRaw(s))
	}
	if u.Scheme != "s3" {
		return Config{}, fmt.Errorf("s3 url %q: scheme must be s3://", redactRaw(s))
	}
	cfg := Config{Endpoint: u.Host, Region: defaultRegion}
	if cfg.Endpoint == "" || u.Opaque != "" {
		return Config{}, fmt.Errorf("s3 url %q: want s3://HOST[:PORT]/BUCKET[/PREFIX]", redactRaw(s))
	}
	if u.User != nil {
		secret, ok := u.User.Password()
		if u.User.Username() == "" || !ok || secret == "" {
			return Config{}, fmt.Errorf("s3 url %q: credentials must be KEY:SECRET@", redactRaw(s))
		}
		cfg.AccessKey, cfg.SecretKey = u.User.Username(), Secret(secret)
	}
	path := strings.Trim(u.Path, "/")
	cfg.Bucket, cfg.Prefix, _ = strings.Cut(path, "/")
	cfg.Prefix = strings.Trim(cfg.Prefix, "/")
	if err := validBucket(cfg.Bucket); err != nil {
		return Config{}, fmt.Errorf("s3 url %q: %w", redactRaw(s), err)
	}
	if strings.Contains(cfg.Prefix, "//") {
		return Config{}, fmt.Errorf("s3 url %q: empty component in prefix", redactRaw(s))
	}
	for key, vals := range u.Query() {
		v := vals[len(vals)-1]
		switch key {
		case "tls":
			tls, err := strconv.ParseBool(v)
			if err != nil {
				return Config{}, fmt.Errorf("s3 url %q: tls=%q: want true or false", redactRaw(s), v)
			}
			cfg.Insecure = !tls
		case "region":
			if v == "" {
				return Config{}, fmt.Errorf("s3 url %q: empty region", redactRaw(s))
			}
			cfg.Region = v
		default:
			return Config{}, fmt.Errorf("s3 url %q: unknown parameter %q (known: tls, region)", redactRaw(s), key)
		}
	}
	return cfg, nil
}

func validBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name %q must be 3 to 63 characters", b)
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return fmt.Errorf("bucket name %q: character %q not allowed", b, c)
		}
	}
	return nil
}

// Location returns the site URL without credentials.
func (c Config) Location() string {
	u := url.URL{Scheme: "s3", Host: c.Endpoint, Path: "/" + c.Bucket}
	if c.Prefix != "" {
		u.Path += "/" + c.Prefix
	}
	q := url.Values{}
	if c.Insecure {
		q.Set("tls", "false")
	}
	if c.Region != "" && c.Region != defaultRegion {
		q.Set("region", c.Region)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// redactRaw removes any userinfo from a URL string that may not parse.
func redactRaw(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		if i := strings.LastIndex(s, "@"); i >= 0 {
			return "[redacted]@" + s[i+1:]
		}
		return s
	}
	// A secret may hold unescaped '/', '?' or '#': cut at the last '@' anywhere,
	// redacting too much rather than too little.
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = "[redacted]@" + rest[i+1:]
	}
	return scheme + "://" + rest
}

var errNoCredentials = errors.New("no s3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or put KEY:SECRET@ in the site url")
