package agreement

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// SigningBytes returns the canonical bytes both parties sign: one line per
// stated field, "path=quoted value", sorted. Layout, comments, key order and
// YAML quoting do not change them; any change of value does. Signatures and
// overrides are not covered (overrides carry their own signature).
func SigningBytes(a *Agreement) []byte {
	var lines []string
	add := func(k, v string) { lines = append(lines, k+"="+strconv.Quote(v)) }
	add("id", a.ID)
	if a.Title != "" {
		add("title", a.Title)
	}
	for role, p := range a.Parties {
		add("parties."+role+".state", p.State)
		add("parties."+role+".name", p.Name)
		add("parties."+role+".key", FormatPublicKey(p.Key))
	}
	for path, v := range a.Values {
		add(path, v.Raw)
	}
	for _, r := range a.Reservations {
		reservationLines(r, add)
	}
	sort.Strings(lines)
	return []byte(Format + " signed terms\n" + strings.Join(lines, "\n") + "\n")
}

// Digest is the hex SHA-256 of the signing bytes: the agreement's identity
// in logs and reports.
func Digest(a *Agreement) string {
	s := sha256.Sum256(SigningBytes(a))
	return hex.EncodeToString(s[:])
}

// OverrideBytes returns the bytes the sending state signs to accept a
// looser term: the agreement digest, the term, its value and the reason.
func OverrideBytes(a *Agreement, o Override) []byte {
	return fmt.Appendf(nil, "%s override\n%s\n%s=%s\nreason=%s\n", Format, Digest(a), o.Term, strconv.Quote(a.Values[o.Term].Raw), strconv.Quote(o.Reason))
}

// Sign signs a as role with priv, which must match that party's key.
func Sign(a *Agreement, role string, priv ed25519.PrivateKey) ([]byte, error) {
	p := a.Parties[role]
	if p == nil {
		return nil, fmt.Errorf("the agreement has no %s party", role)
	}
	if !p.Key.Equal(priv.Public()) {
		return nil, fmt.Errorf("this key (%s) is not the %s state's key %s", FormatPublicKey(priv.Public().(ed25519.PublicKey)), role, FormatPublicKey(p.Key))
	}
	return ed25519.Sign(priv, SigningBytes(a)), nil
}

// SignOverride signs the sending state's acceptance of term's looser value.
func SignOverride(a *Agreement, term, reason string, priv ed25519.PrivateKey) (Override, error) {
	o := Override{Term: term, Reason: reason}
	if _, ok := a.Values[term]; !ok {
		return o, fmt.Errorf("%s: the agreement does not state this term", term)
	}
	if !a.Sending().Key.Equal(priv.Public()) {
		return o, errors.New("only the sending state's key can sign an override")
	}
	o.Sig = ed25519.Sign(priv, OverrideBytes(a, o))
	return o, nil
}

// Verify checks both parties' signatures. An unsigned or altered agreement
// is refused.
func Verify(a *Agreement) error {
	var errs Errors
	msg := SigningBytes(a)
	for _, role := range []string{Sending, Host} {
		sig, ok := a.Signatures[role]
		switch {
		case !ok:
			errs = append(errs, &TermError{Line: a.lines["signatures"], Term: "signatures." + role, Msg: fmt.Sprintf("missing: unsigned agreements are refused; the %s state signs with 'embassy agreement sign FILE --key KEY --role %s'", role, role)})
		case !ed25519.Verify(a.Parties[role].Key, msg, sig):
			errs = append(errs, &TermError{Line: a.lines["signatures."+role], Term: "signatures." + role, Msg: "does not verify: the agreement was altered after signing, or signed with another key"})
		}
	}
	return errs.err()
}

// SetSignature returns doc with role's signature set, keeping the rest of
// the document (comments included) as it is.
func SetSignature(doc []byte, role string, sig []byte) ([]byte, error) {
	return edit(doc, func(root *yaml.Node) {
		sigs := child(root, "signatures", yaml.MappingNode)
		val := base64.StdEncoding.EncodeToString(sig)
		for i := 0; i+1 < len(sigs.Content); i += 2 {
			if sigs.Content[i].Value == role {
				sigs.Content[i+1] = scalar(val)
				return
			}
		}
		sigs.Content = append(sigs.Content, scalar(role), scalar(val))
	})
}

// AddOverride returns doc with o appended to its overrides.
func AddOverride(doc []byte, o Override) ([]byte, error) {
	return edit(doc, func(root *yaml.Node) {
		ov := child(root, "overrides", yaml.SequenceNode)
		ov.Content = append(ov.Content, &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
			scalar("term"), scalar(o.Term), scalar("reason"), scalar(o.Reason),
			scalar("signature"), scalar(base64.StdEncoding.EncodeToString(o.Sig)),
		}})
	})
}

func edit(doc []byte, fn func(*yaml.Node)) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(doc, &n); err != nil {
		return nil, err
	}
	if n.Kind != yaml.DocumentNode || len(n.Content) != 1 || n.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("not an agreement: the document must be a YAML mapping")
	}
	fn(n.Content[0])
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

func child(m *yaml.Node, key string, kind yaml.Kind) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && m.Content[i+1].Kind == kind {
			return m.Content[i+1]
		}
	}
	c := &yaml.Node{Kind: kind}
	m.Content = append(m.Content, scalar(key), c)
	return c
}

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s} }

const keyPrefix = "EMBASSY-AGREEMENT-KEY-1:"

// FormatPublicKey renders a public key as "ed25519:BASE64".
func FormatPublicKey(k ed25519.PublicKey) string {
	return "ed25519:" + base64.StdEncoding.EncodeToString(k)
}

// ParsePublicKey reads "ed25519:BASE64".
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b64, ok := strings.CutPrefix(s, "ed25519:")
	k, err := base64.StdEncoding.DecodeString(b64)
	if !ok || err != nil || len(k) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%q is not an Ed25519 public key: expected ed25519:BASE64 (from 'embassy agreement keygen')", s)
	}
	return ed25519.PublicKey(k), nil
}

// GenerateKey returns a new signing key in its file form and its public key.
func GenerateKey(rand io.Reader, comment string) (file []byte, pub string, err error) {
	pk, sk, err := ed25519.GenerateKey(rand)
	if err != nil {
		return nil, "", err
	}
	pub = FormatPublicKey(pk)
	file = fmt.Appendf(nil, "# embassy agreement signing key (Ed25519)%s\n# public key: %s\n%s%s\n",
		comment, pub, keyPrefix, base64.StdEncoding.EncodeToString(sk.Seed()))
	return file, pub, nil
}

// ParsePrivateKey reads a key file written by GenerateKey.
func ParsePrivateKey(file []byte) (ed25519.PrivateKey, error) {
	for _, line := range strings.Split(string(file), "\n") {
		if s, ok := strings.CutPrefix(strings.TrimSpace(line), keyPrefix); ok {
			seed, err := base64.StdEncoding.DecodeString(s)
			if err != nil || len(seed) != ed25519.SeedSize {
				return nil, errors.New("damaged agreement key file")
			}
			return ed25519.NewKeyFromSeed(seed), nil
		}
	}
	return nil, errors.New("not an agreement key file (expected a line starting with " + keyPrefix + ")")
}
