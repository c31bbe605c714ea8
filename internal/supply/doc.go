// Package supply is supply-chain and update control (framework requirement
// 16): software bills of materials for our own binaries (CycloneDX 1.6 or
// SPDX 2.3 JSON, from the Go build information embedded in a binary), the
// sending state's signed update approvals (docs/formats/update-approval.md),
// the daemon's version answer, and the checks of a running digest or of
// attested measurements against the approved set. It is pure: callers read
// the binary, the files and the clock.
package supply
