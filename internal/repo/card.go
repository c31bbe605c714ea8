package repo

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"time"
)

// cardFormat opens a custodian card (docs/FORMAT.md §4.5).
const cardFormat = "embassy custodian card v1"

// maxCardSize bounds a custodian card read back.
const maxCardSize = 64 << 10

// Card is what each custodian receives with their identity at init: the
// home fingerprint they check a vault against before rebuilding it.
type Card struct {
	Custodian   string    // the custodian's name (their identity file's)
	Index       int       // 1-based position among the custodians
	Of          int       // number of custodians
	Threshold   int       // custodians needed to recover
	Home        string    // home id
	Fingerprint string    // HomeFingerprint
	Recipient   string    // the custodian's age recipient
	Created     time.Time // when init ran
}

// Encode writes the card as text: fields, then how to check the home.
func (c *Card) Encode() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n", cardFormat)
	fmt.Fprintf(&b, "custodian: %s (%d of %d; %d needed to recover)\n", c.Custodian, c.Index, c.Of, c.Threshold)
	fmt.Fprintf(&b, "home: %s\n", c.Home)
	fmt.Fprintf(&b, "fingerprint: %s\n", c.Fingerprint)
	fmt.Fprintf(&b, "recipient: %s\n", c.Recipient)
	fmt.Fprintf(&b, "created: %s\n", c.Created.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, `
Keep this file with your identity. The fingerprint is the home's: it is
derived from the home id and the home's first signing key, and no one
without the home's keys can make a vault that shows it.

How to check it: whenever you are asked to rebuild the home (recover, drill,
operate), the command shows the fingerprint of the vault a site presents,
and runs only with the one you pin:

  embassy --home DIR recover --site SITE --expect-home %s --identity YOUR-IDENTITY ...

(plan files for drill and operate: 'home: %s'). If a site presents another
fingerprint, it holds a different or forged vault: do not lend your identity
to it, and tell the home's operators. 'embassy key status' at the home
prints the same fingerprint.
`, c.Fingerprint, c.Fingerprint)
	return b.Bytes()
}

// ParseCard reads a custodian card back and returns its fingerprint in
// canonical form. Only the header and the fingerprint line are required.
func ParseCard(b []byte) (string, error) {
	if len(b) > maxCardSize {
		return "", fmt.Errorf("custodian card of %d bytes is too large: %w", len(b), errFormat)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxCardSize)
	if !sc.Scan() || strings.TrimSpace(sc.Text()) != cardFormat {
		return "", fmt.Errorf("not a custodian card (first line is not %q): %w", cardFormat, errFormat)
	}
	fp := ""
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != "fingerprint" {
			continue
		}
		if fp != "" {
			return "", fmt.Errorf("custodian card has two fingerprint lines: %w", errFormat)
		}
		n, err := NormalizeFingerprint(v)
		if err != nil {
			return "", err
		}
		fp = n
	}
	if fp == "" {
		return "", fmt.Errorf("custodian card has no fingerprint line: %w", errFormat)
	}
	return fp, nil
}
