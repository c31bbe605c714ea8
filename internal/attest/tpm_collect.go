package attest

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	"github.com/google/go-tpm-tools/client"
	"github.com/google/go-tpm/legacy/tpm2"
)

// QuoteTPM produces TPM evidence (the TPMEvidence JSON document) on the
// attester side: it loads the default ECC attestation key of the TPM behind
// rw, quotes the SHA-256 bank's PCRs 0-23 with nonce as extraData (at most
// 64 bytes), and reads the PCR values. rw is a real TPM
// (/dev/tpmrm0) or the simulator in tests.
func QuoteTPM(rw io.ReadWriter, nonce []byte) ([]byte, error) {
	if len(nonce) > 64 {
		return nil, fmt.Errorf("tpm: nonce of %d bytes exceeds the 64-byte extraData limit", len(nonce))
	}
	ak, err := client.AttestationKeyECC(rw)
	if err != nil {
		return nil, fmt.Errorf("tpm: load attestation key: %w", err)
	}
	defer ak.Close()
	sel := tpm2.PCRSelection{Hash: tpm2.AlgSHA256}
	for i := range 24 {
		sel.PCRs = append(sel.PCRs, i)
	}
	q, err := ak.Quote(sel, nonce)
	if err != nil {
		return nil, fmt.Errorf("tpm: quote: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(ak.PublicKey())
	if err != nil {
		return nil, fmt.Errorf("tpm: encode attestation key: %w", err)
	}
	doc := TPMEvidence{AKPublic: base64.StdEncoding.EncodeToString(der)}
	doc.Quote.Message = base64.StdEncoding.EncodeToString(q.GetQuote())
	doc.Quote.Signature = base64.StdEncoding.EncodeToString(q.GetRawSig())
	pcrs := q.GetPcrs().GetPcrs()
	for i := range uint32(24) {
		doc.Quote.PCRs = append(doc.Quote.PCRs, hex.EncodeToString(pcrs[i]))
	}
	return json.Marshal(doc)
}
