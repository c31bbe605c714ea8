// Package keys holds the sending state's key hierarchy: the per-epoch root
// secret, the working keys derived from it, the k-of-n split of the root among
// custodians, and the share envelopes stored at every site.
//
// The hierarchy, top down:
//
//	Root{Epoch, Secret}            a ristretto255 scalar, one per epoch
//	├─ KEM()    HKDF-SHA256(secret, "embassy.v1 root kem")  → MLKEM768-X25519 (X-Wing) key pair
//	│           data keys are wrapped to it with HPKE (Wrap, Unwrap)
//	├─ Signer() HKDF-SHA256(secret, "embassy.v1 root sign") → Ed25519 seed
//	│           manifests and config are signed with it (Sign, Verify)
//	└─ Split()  Shamir k-of-n with Feldman commitments → Share, one per custodian,
//	            each sealed with age to that custodian's recipient (SealShare)
//
// Every derivation and encoding here is pinned by known-answer tests in
// testdata/kat.json: changing one breaks every existing repository, so those
// tests must never be "fixed" by regenerating the file.
//
// The package is pure: it does no I/O and takes no context. The only outside
// input is randomness from crypto/rand.
package keys
