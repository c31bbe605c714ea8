package keys

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/google/go-cmp/cmp"
)

func mustIdentity(t testing.TB, classic bool) (age.Identity, string) {
	t.Helper()
	id, rcpt, err := GenerateIdentity(classic)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := ParseIdentities([]byte(id))
	if err != nil {
		t.Fatal(err)
	}
	return ids[0], rcpt
}

func TestGenerateIdentity(t *testing.T) {
	for _, tc := range []struct {
		name               string
		classic            bool
		idPrefix, rcPrefix string
		idType             string
	}{
		{"hybrid", false, "AGE-SECRET-KEY-PQ-1", "age1pq1", "*age.HybridIdentity"},
		{"classic", true, "AGE-SECRET-KEY-1", "age1", "*age.X25519Identity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, rcpt, err := GenerateIdentity(tc.classic)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(id, tc.idPrefix) || !strings.HasPrefix(rcpt, tc.rcPrefix) {
				t.Fatalf("got %.20s / %.20s, want prefixes %s / %s", id, rcpt, tc.idPrefix, tc.rcPrefix)
			}
			if tc.classic == strings.HasPrefix(rcpt, "age1pq1") {
				t.Fatalf("recipient %.20s has the wrong kind", rcpt)
			}
			created := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("", 3600))
			file := IdentityFile(id, rcpt, created)
			want := "# created: 2026-03-04T05:06:07+01:00\n# public key: " + rcpt + "\n" + id + "\n"
			if diff := cmp.Diff(want, string(file)); diff != "" {
				t.Errorf("IdentityFile (-want +got):\n%s", diff)
			}
			ids, err := ParseIdentities(file)
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != 1 || fmt.Sprintf("%T", ids[0]) != tc.idType {
				t.Fatalf("got %d identities of type %T", len(ids), ids[0])
			}
			if got := RecipientOf(ids[0]); got != rcpt {
				t.Errorf("RecipientOf = %.20s, want %.20s", got, rcpt)
			}
			r, err := ParseRecipient(rcpt)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.(fmt.Stringer).String(); got != rcpt {
				t.Errorf("ParseRecipient(%.20s).String() = %.20s", rcpt, got)
			}
		})
	}
}

func TestParseIdentities(t *testing.T) {
	id1, _, _ := GenerateIdentity(true)
	id2, _, _ := GenerateIdentity(false)
	ids, err := ParseIdentities([]byte("# comment\n\n" + id1 + "\n# other\n" + id2 + "\n"))
	if err != nil || len(ids) != 2 {
		t.Fatalf("got %d identities, %v", len(ids), err)
	}
	if RecipientOf(age.NewInjectedFileKeyIdentity(make([]byte, 16))) != "" {
		t.Error("RecipientOf of a foreign identity type is not empty")
	}
	leaky := id1[:len(id1)-1] + "x" // bad checksum
	for _, data := range []string{"", "# only a comment\n", leaky, "AGE-PLUGIN-YUBIKEY-1ABC\n"} {
		_, err := ParseIdentities([]byte(data))
		if err == nil {
			t.Errorf("ParseIdentities(%.30q) succeeded", data)
			continue
		}
		if strings.Contains(err.Error(), id1[16:40]) {
			t.Errorf("error %q leaks key material", err)
		}
	}
}

func TestParseRecipientErrors(t *testing.T) {
	classicID, classic, _ := GenerateIdentity(true)
	_, hybrid, _ := GenerateIdentity(false)
	corrupt := func(s string) string { // changes the last checksum character
		c := "q"
		if s[len(s)-1] == 'q' {
			c = "p"
		}
		return s[:len(s)-1] + c
	}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", "empty recipient"},
		{"space", " " + classic, "space"},
		{"newline", classic + "\n", "space"},
		{"secret key", classicID, "identity (secret key), not a recipient"},
		{"lower-case secret key", strings.ToLower(classicID), "identity (secret key), not a recipient"},
		{"plugin identity", "AGE-PLUGIN-YUBIKEY-1QQQQ", "identity (secret key)"},
		{"ssh", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA user@host", "ssh keys are not supported"},
		{"plugin", "age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t", `plugin recipients are not supported (plugin "yubikey")`},
		{"tag", "age1tag1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t", "tagged"},
		{"classic bad checksum", corrupt(classic), "invalid X25519 recipient: invalid checksum"},
		{"hybrid bad checksum", corrupt(hybrid), "invalid hybrid post-quantum recipient: invalid checksum"},
		{"hybrid truncated", hybrid[:100], "invalid hybrid post-quantum recipient"},
		{"upper case", strings.ToUpper(classic), "lower case"},
		{"garbage", "hello", `not an age recipient (want age1pq1... or age1...): "hello"`},
		{"long garbage", strings.Repeat("z", 100), "zzzz...\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRecipient(tc.in)
			if err == nil {
				t.Fatalf("got %v, want error containing %q", r, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %q, want it to contain %q", err, tc.want)
			}
			if len(err.Error()) > 200 {
				t.Errorf("error is %d bytes long: %.80q...", len(err.Error()), err)
			}
			if strings.Contains(err.Error(), classicID[15:]) {
				t.Errorf("error %q leaks the secret key", err)
			}
		})
	}
}
