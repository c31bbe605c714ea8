package keys

import (
	"crypto/ed25519"
	"testing"
)

func TestSignVerify(t *testing.T) {
	r := mustRoot(t, 1)
	priv, pub := r.Signer(), r.SigningPublicKey()
	msg := []byte("manifest v3")
	sig := Sign(priv, "manifest", msg)
	if !Verify(pub, "manifest", msg, sig) {
		t.Fatal("signature does not verify")
	}
	other := mustRoot(t, 1).SigningPublicKey()
	for _, tc := range []struct {
		name    string
		pub     ed25519.PublicKey
		context string
		msg     []byte
		sig     []byte
	}{
		{"other context", pub, "config", msg, sig},
		{"other message", pub, "manifest", []byte("manifest v4"), sig},
		{"other key", other, "manifest", msg, sig},
		{"context/message boundary", pub, "manifestm", []byte("anifest v3"), sig},
		{"empty context", pub, "", msg, sig},
		{"long context", pub, string(make([]byte, 256)), msg, sig},
		{"short key", pub[:31], "manifest", msg, sig},
		{"short signature", pub, "manifest", msg, sig[:63]},
		{"nil signature", pub, "manifest", msg, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if Verify(tc.pub, tc.context, tc.msg, tc.sig) {
				t.Error("Verify accepted")
			}
		})
	}
	if ed25519.Verify(pub, msg, sig) {
		t.Error("signature verifies as a plain Ed25519 signature of msg")
	}
	if Verify(pub, "manifest", msg, ed25519.Sign(priv, msg)) {
		t.Error("plain Ed25519 signature of msg verifies in a context")
	}
	long := string(make([]byte, 255))
	if !Verify(pub, long, msg, Sign(priv, long, msg)) {
		t.Error("255-byte context fails")
	}
}

func TestSignPanicsOnBadContext(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Sign with an empty context did not panic")
		}
	}()
	Sign(mustRoot(t, 1).Signer(), "", nil)
}
