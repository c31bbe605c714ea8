// Package broker is the sending state's key broker for attested workloads
// (IETF RATS, RFC 9334: the workload is the attester; verifier and release
// decision stay with the sending state).
//
// A workload asks for a challenge (a single-use nonce bound to a session),
// produces evidence whose report data is SHA-256 over the nonce and a public
// key it generated inside the TEE, and asks for a dataset's keys. The broker
// verifies the evidence (Verifier), pins the workload's identity to a
// registered site, checks revocations, matches the measurements against the
// approved reference values, evaluates the release policy (cedar), and only
// then wraps the dataset's keys to the workload's key: HPKE with X-Wing
// (ML-KEM-768 + X25519) on the native API, a JWE to an RSA or EC key on the
// KBS API of Confidential Containers. Every release and refusal is appended
// to the transparency log (Recorder) before the answer leaves the broker.
//
// docs/BROKER.md specifies the protocol, the files and the token claims.
package broker
