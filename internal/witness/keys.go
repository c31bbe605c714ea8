package witness

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	f_note "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/digital-embassy/embassy/internal/atomicfile"
)

// Key algorithms.
const (
	Ed25519 = "ed25519" // cosignature/v1, signature type 0x04
	MLDSA44 = "mldsa44" // ML-DSA-44 cosignature/v1, signature type 0x06
)

// LoadOrCreateKey returns the witness's signer and verifier key (vkey) of
// the given algorithm, kept in dir/<alg>.key (mode 0600) and dir/<alg>.pub;
// the key is generated with the given name on first use.
func LoadOrCreateKey(dir, name, alg string) (note.Signer, string, error) {
	kp, pp := filepath.Join(dir, alg+".key"), filepath.Join(dir, alg+".pub")
	b, err := os.ReadFile(kp)
	if errors.Is(err, fs.ErrNotExist) {
		var skey, vkey string
		switch alg {
		case Ed25519:
			var v0 string
			skey, v0, err = note.GenerateKey(rand.Reader, name)
			if err == nil {
				vkey, err = f_note.VKeyToCosignatureV1(v0)
			}
		case MLDSA44:
			skey, vkey, err = f_note.GenerateMLDSAKey(name)
		default:
			return nil, "", fmt.Errorf("witness: unknown key algorithm %q", alg)
		}
		if err != nil {
			return nil, "", err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, "", err
		}
		if err := atomicfile.Write(pp, []byte(vkey+"\n"), 0o600); err != nil {
			return nil, "", err
		}
		if err := atomicfile.Write(kp, []byte(skey+"\n"), 0o600); err != nil {
			return nil, "", err
		}
		if err := os.Chmod(kp, 0o600); err != nil {
			return nil, "", err
		}
		b = []byte(skey)
	} else if err != nil {
		return nil, "", err
	}
	s, err := f_note.NewSignerForCosignatureV1(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %v", kp, err)
	}
	pub, err := os.ReadFile(pp)
	if err != nil {
		return nil, "", err
	}
	return s, strings.TrimSpace(string(pub)), nil
}
