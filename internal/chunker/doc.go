// Package chunker splits a byte stream into content-defined chunks with
// FastCDC, using a gear hash whose table is derived from a secret key.
//
// # Format
//
// The gear table is 256 little-endian uint64 values read from the BLAKE3
// extendable output of the keyed hash (key = the 32-byte chunker key) of the
// ASCII string "embassy chunker gear v1". Because the table is secret, the
// chunk lengths of a file reveal nothing to a site that does not hold the key.
//
// The gear hash of a 64-byte window w is sum over j of gear[w[63-j]] << j
// (mod 2^64), computed incrementally as h = h<<1 + gear[b]. For avg = 2^b the
// two FastCDC masks (normalisation level 2) select the top b+2 bits (maskS)
// and the top b-2 bits (maskL) of h.
//
// A chunk of the remaining data d is d[:n] where n is the smallest length in
// [Min, min(Max, len(d))) for which the hash of d[n-64:n] has no bits set in
// maskS if n < Avg, or in maskL otherwise. If there is none, n is
// min(Max, len(d)). The first Min-64 bytes of a chunk are never hashed
// (cut-point skipping), and since each decision depends only on the 64 bytes
// before it, a scan can be resumed anywhere without state.
package chunker
