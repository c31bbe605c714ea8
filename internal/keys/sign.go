package keys

import (
	"crypto/ed25519"
	"fmt"
)

// signPrefix starts every signed message, so that embassy signatures can't be
// confused with signatures over anything else made by the same key.
const signPrefix = "embassy.v1 signature\x00"

// signedMessage is signPrefix || len(context) (1 byte) || context || msg:
// unambiguous for any context and msg.
func signedMessage(context string, msg []byte) ([]byte, bool) {
	if len(context) < 1 || len(context) > 255 {
		return nil, false
	}
	m := make([]byte, 0, len(signPrefix)+1+len(context)+len(msg))
	m = append(m, signPrefix...)
	m = append(m, byte(len(context)))
	m = append(m, context...)
	m = append(m, msg...)
	return m, true
}

// Sign signs msg with priv (pure Ed25519) in the domain context, such as
// "manifest" or "config": a signature in one context never verifies in
// another. context must be 1..255 bytes; Sign panics otherwise, since
// contexts are constants in the code.
func Sign(priv ed25519.PrivateKey, context string, msg []byte) []byte {
	m, ok := signedMessage(context, msg)
	if !ok {
		panic(fmt.Sprintf("keys: signature context of %d bytes, want 1..255", len(context)))
	}
	return ed25519.Sign(priv, m)
}

// Verify reports whether sig is pub's signature of msg in context.
func Verify(pub ed25519.PublicKey, context string, msg, sig []byte) bool {
	m, ok := signedMessage(context, msg)
	if !ok || len(pub) != ed25519.PublicKeySize {
		return false
	}
	return ed25519.Verify(pub, m, sig)
}
