package tlog

import (
	"crypto/sha256"
	"errors"
	"fmt"

	f_log "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/formats/proof"
	mproof "github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// MaxReceiptSize bounds receipts accepted by VerifyReceipt.
const MaxReceiptSize = 1 << 20

// MakeReceipt encodes a c2sp.org/tlog-proof whose extra data is the entry.
func MakeReceipt(index uint64, leaf []byte, hashes [][]byte, checkpoint []byte) []byte {
	p := proof.TLogProof{Index: index, Checkpoint: checkpoint, ExtraData: leaf}
	for _, h := range hashes {
		p.Hashes = append(p.Hashes, [sha256.Size]byte(h))
	}
	return p.Marshal()
}

// VerifyReceipt checks a receipt offline against the policy: the log's
// signature on the checkpoint, the witness quorum's cosignatures, and the
// entry's inclusion. It returns the entry and the checkpoint.
func VerifyReceipt(receipt []byte, p *Policy) (Indexed, *f_log.Checkpoint, error) {
	if len(receipt) > MaxReceiptSize {
		return Indexed{}, nil, fmt.Errorf("receipt is %d bytes: at most %d", len(receipt), MaxReceiptSize)
	}
	var tp proof.TLogProof
	if err := tp.Unmarshal(receipt); err != nil {
		return Indexed{}, nil, fmt.Errorf("decode receipt: %w", err)
	}
	if len(tp.ExtraData) == 0 {
		return Indexed{}, nil, errors.New("decode receipt: no entry (extra line)")
	}
	cp, err := p.VerifyCheckpoint(tp.Checkpoint)
	if err != nil {
		return Indexed{}, nil, err
	}
	hashes := make([][]byte, len(tp.Hashes))
	for i := range tp.Hashes {
		hashes[i] = tp.Hashes[i][:]
	}
	if err := verifyInclusion(tp.Index, cp, tp.ExtraData, hashes); err != nil {
		return Indexed{}, nil, err
	}
	e, err := UnmarshalEntry(tp.ExtraData)
	if err != nil {
		return Indexed{}, nil, err
	}
	return Indexed{Index: tp.Index, Entry: e}, cp, nil
}

func verifyInclusion(index uint64, cp *f_log.Checkpoint, leaf []byte, hashes [][]byte) error {
	if index >= cp.Size {
		return fmt.Errorf("%w: index %d is beyond the tree size %d", ErrInclusion, index, cp.Size)
	}
	if err := mproof.VerifyInclusion(rfc6962.DefaultHasher, index, cp.Size, rfc6962.DefaultHasher.HashLeaf(leaf), hashes, cp.Hash); err != nil {
		var rm mproof.RootMismatchError
		if errors.As(err, &rm) {
			// The library prints the roots as decimal byte lists.
			return fmt.Errorf("%w: entry %d: calculated root %x does not match the checkpoint's root %x", ErrInclusion, index, rm.CalculatedRoot, rm.ExpectedRoot)
		}
		return fmt.Errorf("%w: entry %d: %v", ErrInclusion, index, err)
	}
	return nil
}
