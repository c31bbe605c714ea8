package keys

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"filippo.io/age"
)

// GenerateIdentity returns a new custodian identity and its recipient: a
// hybrid post-quantum one (AGE-SECRET-KEY-PQ-1..., age1pq1...,
// MLKEM768-X25519) by default, or a classic X25519 one (AGE-SECRET-KEY-1...,
// age1...) if classic is set.
func GenerateIdentity(classic bool) (identity, recipient string, err error) {
	if classic {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			return "", "", fmt.Errorf("generate identity: %w", err)
		}
		return id.String(), id.Recipient().String(), nil
	}
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		return "", "", fmt.Errorf("generate identity: %w", err)
	}
	return id.String(), id.Recipient().String(), nil
}

// IdentityFile formats an identity file like age-keygen does:
//
//	# created: 2006-01-02T15:04:05Z
//	# public key: age1...
//	AGE-SECRET-KEY-...
//
// created is formatted as RFC 3339 in its own location.
func IdentityFile(identity, recipient string, created time.Time) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# created: %s\n", created.Format(time.RFC3339))
	fmt.Fprintf(&b, "# public key: %s\n", recipient)
	fmt.Fprintf(&b, "%s\n", identity)
	return b.Bytes()
}

// ParseRecipient parses a custodian's age recipient: hybrid post-quantum
// (age1pq1...) or classic X25519 (age1...). Its errors say what is wrong
// without echoing anything that might be a secret key.
func ParseRecipient(s string) (age.Recipient, error) {
	switch {
	case s == "":
		return nil, errors.New("empty recipient")
	case strings.TrimSpace(s) != s:
		return nil, errors.New("recipient has leading or trailing space")
	case strings.HasPrefix(strings.ToUpper(s), "AGE-SECRET-KEY-"),
		strings.HasPrefix(s, "AGE-PLUGIN-"):
		// Don't echo s: it is secret.
		return nil, errors.New("this is an identity (secret key), not a recipient: use the \"# public key:\" line of the identity file")
	case strings.HasPrefix(s, "ssh-"), strings.HasPrefix(s, "ecdsa-sha2-"), strings.HasPrefix(s, "sk-"):
		return nil, errors.New("ssh keys are not supported as custodian recipients: use an age recipient (age1pq1... or age1...)")
	case strings.HasPrefix(s, "age1pq1"):
		r, err := age.ParseHybridRecipient(s)
		if err != nil {
			return nil, fmt.Errorf("invalid hybrid post-quantum recipient: %v", trimAgeError(err))
		}
		return r, nil
	case strings.HasPrefix(s, "age1tag1"), strings.HasPrefix(s, "age1tagpq1"):
		return nil, fmt.Errorf("tagged (hardware) recipients are not supported: %s", shorten(s))
	case strings.HasPrefix(s, "age1") && strings.LastIndexByte(s, '1') > len("age"):
		plugin := s[len("age1"):strings.LastIndexByte(s, '1')]
		return nil, fmt.Errorf("plugin recipients are not supported (plugin %q): %s", plugin, shorten(s))
	case strings.HasPrefix(s, "age1"):
		r, err := age.ParseX25519Recipient(s)
		if err != nil {
			return nil, fmt.Errorf("invalid X25519 recipient: %v", trimAgeError(err))
		}
		return r, nil
	case strings.HasPrefix(strings.ToLower(s), "age1"):
		return nil, errors.New("recipient must be lower case")
	default:
		return nil, fmt.Errorf("not an age recipient (want age1pq1... or age1...): %s", shorten(s))
	}
}

// trimAgeError drops age's `malformed recipient "…": ` prefix, which quotes
// the whole (up to 2,000 character) input.
func trimAgeError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, `": `); i >= 0 && strings.HasPrefix(msg, "malformed recipient") {
		return msg[i+3:]
	}
	return msg
}

// shorten abbreviates a public string for an error message.
func shorten(s string) string {
	const max = 24
	if len(s) <= max {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q", s[:max]+"...")
}

// ParseIdentities parses the contents of an identity file: one identity per
// line (X25519 or hybrid), blank lines and "#" comments allowed. Errors never
// include key material.
func ParseIdentities(data []byte) ([]age.Identity, error) {
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("parse identities: %v", err)
	}
	return ids, nil
}

// RecipientOf returns the public recipient string of an X25519 or hybrid
// identity, or "" for other kinds of identity.
func RecipientOf(identity age.Identity) string {
	switch id := identity.(type) {
	case *age.HybridIdentity:
		return id.Recipient().String()
	case *age.X25519Identity:
		return id.Recipient().String()
	}
	return ""
}
