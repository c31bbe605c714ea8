package erasure

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Spec is a site group as written in a site URL:
//
//	erasure:K+M?members=NAME,NAME,...[&stripe=SIZE][&quorum=N]
//
// The members are the names of other sites in the home's registry, in shard
// order; SIZE is bytes, or a number with KiB or MiB.
type Spec struct {
	K, M        int
	Members     []string
	Stripe      int // 0: DefaultStripe
	WriteQuorum int // 0: min(K+1, K+M)
}

// ParseSpec parses and checks a group URL.
func ParseSpec(s string) (Spec, error) {
	rest, ok := strings.CutPrefix(s, "erasure:")
	if !ok {
		return Spec{}, fmt.Errorf("erasure spec %q: want erasure:K+M?members=A,B,...", s)
	}
	rest = strings.TrimPrefix(rest, "//")
	geom, query, _ := strings.Cut(rest, "?")
	ks, ms, ok := strings.Cut(geom, "+")
	var sp Spec
	var err1, err2 error
	sp.K, err1 = strconv.Atoi(ks)
	sp.M, err2 = strconv.Atoi(ms)
	if !ok || err1 != nil || err2 != nil || sp.K < 1 || sp.M < 0 || sp.K+sp.M > maxShards {
		return Spec{}, fmt.Errorf("erasure spec %q: geometry %q: want K+M with K >= 1, M >= 0, K+M <= %d", s, geom, maxShards)
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return Spec{}, fmt.Errorf("erasure spec %q: %w", s, err)
	}
	for key := range q {
		if key != "members" && key != "stripe" && key != "quorum" {
			return Spec{}, fmt.Errorf("erasure spec %q: unknown parameter %q (want members, stripe, quorum)", s, key)
		}
	}
	seen := map[string]bool{}
	if v := q.Get("members"); v != "" {
		sp.Members = strings.Split(v, ",")
	}
	for _, m := range sp.Members {
		if m == "" || seen[m] {
			return Spec{}, fmt.Errorf("erasure spec %q: member names must be distinct and non-empty", s)
		}
		if strings.HasPrefix(m, "erasure:") {
			return Spec{}, fmt.Errorf("erasure spec %q: groups cannot nest", s)
		}
		seen[m] = true
	}
	if len(sp.Members) != sp.K+sp.M {
		return Spec{}, fmt.Errorf("erasure spec %q: %d+%d needs %d members, got %d", s, sp.K, sp.M, sp.K+sp.M, len(sp.Members))
	}
	if v := q.Get("stripe"); v != "" {
		n, err := parseSize(v)
		if err != nil || n < 1 || n > maxStripe {
			return Spec{}, fmt.Errorf("erasure spec %q: stripe %q: want 1 to %d bytes", s, v, maxStripe)
		}
		sp.Stripe = n
	}
	if v := q.Get("quorum"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < sp.K || n > sp.K+sp.M {
			return Spec{}, fmt.Errorf("erasure spec %q: quorum %q: want %d to %d", s, v, sp.K, sp.K+sp.M)
		}
		sp.WriteQuorum = n
	}
	return sp, nil
}

func parseSize(v string) (int, error) {
	mult := 1
	switch {
	case strings.HasSuffix(v, "MiB"):
		v, mult = strings.TrimSuffix(v, "MiB"), 1<<20
	case strings.HasSuffix(v, "KiB"):
		v, mult = strings.TrimSuffix(v, "KiB"), 1<<10
	}
	n, err := strconv.Atoi(v)
	if err != nil || n > maxStripe/mult {
		return 0, fmt.Errorf("bad size %q", v)
	}
	return n * mult, nil
}

// String returns the spec in its URL form.
func (sp Spec) String() string {
	s := fmt.Sprintf("erasure:%d+%d?members=%s", sp.K, sp.M, strings.Join(sp.Members, ","))
	if sp.Stripe != 0 {
		s += "&stripe=" + strconv.Itoa(sp.Stripe)
	}
	if sp.WriteQuorum != 0 {
		s += "&quorum=" + strconv.Itoa(sp.WriteQuorum)
	}
	return s
}

// Options returns the Backend options the spec sets.
func (sp Spec) Options() Options { return Options{Stripe: sp.Stripe, WriteQuorum: sp.WriteQuorum} }
