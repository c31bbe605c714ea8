package assess

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"regexp"
	"strings"
	"sync"

	"github.com/digital-embassy/embassy/internal/site"
)

var (
	shareName   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^shares/e[0-9]{8}/[0-9]{3}$`) })
	dataKeyName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^datasets/[0-9a-f]{32}/v[0-9]{6}\.e[0-9]{8}$`) })
	configName  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(repo|epoch-[0-9]{8}|state-[0-9]{12})$`) })
)

// sample is how much of each object the scan reads.
const sample = 4096

// ScanSite reads what a site holds and returns every object that is not
// ciphertext, a wrapped key or signed public metadata: unexpected names,
// low-entropy (plaintext-looking) data, and metadata naming secret fields.
// It reads at most 4 KiB of each object.
func ScanSite(ctx context.Context, b site.Backend) ([]string, error) {
	var out []string
	for _, k := range site.Kinds {
		var infos []site.Info
		if err := b.List(ctx, k, func(i site.Info) error { infos = append(infos, i); return nil }); err != nil {
			return out, fmt.Errorf("list %s: %w", k, err)
		}
		for _, i := range infos {
			var head []byte
			n := min(i.Size, sample)
			if n == 0 {
				continue
			}
			err := b.Get(ctx, i.Handle, 0, n, func(r io.Reader) error {
				var e error
				head, e = io.ReadAll(r)
				return e
			})
			if err != nil {
				return out, fmt.Errorf("read %s: %w", i.Handle, err)
			}
			if why := Classify(i.Handle, head); why != "" {
				out = append(out, i.Handle.String()+": "+why)
			}
		}
	}
	return out, nil
}

// Classify says why an object (its first bytes) is suspect, or "".
func Classify(h site.Handle, head []byte) string {
	switch h.Kind {
	case site.KindConfig:
		if !configName().MatchString(h.Name) {
			return "unexpected configuration object"
		}
		if secretField(head) {
			return "metadata names a secret or private field"
		}
		return ""
	case site.KindKey:
		switch {
		case shareName().MatchString(h.Name):
			if !bytes.HasPrefix(head, []byte("age-encryption.org/v1\n")) {
				return "custodian share is not age-encrypted"
			}
			return ""
		case dataKeyName().MatchString(h.Name):
			if len(head) >= 512 && entropy(head) < 7.0 {
				return "wrapped dataset key does not look encrypted"
			}
			return ""
		}
		return "unexpected key object"
	case site.KindLock:
		return ""
	}
	if len(head) >= 1024 && entropy(head) < 7.0 {
		return fmt.Sprintf("looks like plaintext (%.1f bits/byte)", entropy(head))
	}
	return ""
}

func secretField(b []byte) bool {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return false // truncated or not JSON: signed envelopes are checked by verify
	}
	var walk func(any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				lk := strings.ToLower(k)
				if strings.Contains(lk, "priv") || strings.Contains(lk, "secret") || strings.Contains(lk, "seed") || lk == "root" {
					return true
				}
				if walk(e) {
					return true
				}
			}
		case []any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}

// entropy is the Shannon entropy of b in bits per byte.
func entropy(b []byte) float64 {
	var n [256]int
	for _, c := range b {
		n[c]++
	}
	h := 0.0
	for _, c := range n {
		if c > 0 {
			p := float64(c) / float64(len(b))
			h -= p * math.Log2(p)
		}
	}
	return h
}
