package attest

import (
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// A CCEL (confidential-computing event log) is a TCG PC Client crypto-agile
// event log whose "PCR index" is a TDX measurement-register index: 1..4 are
// RTMR0..RTMR3 (0 is MRTD, which firmware does not extend). Replaying the
// SHA-384 digests must reproduce the RTMRs the quote signs; the events then
// say what was measured. Layout in docs/ATTESTATION.md.

const (
	evNoAction   = 0x00000003
	tpmAlgSHA384 = 0x000c
	maxEvents    = 1 << 16
)

// CCELEvent is one replayed event.
type CCELEvent struct {
	MR     int    // 1..4 = RTMR0..RTMR3
	Type   uint32 // TCG event type
	Digest []byte // SHA-384
	Data   []byte // event data
}

// ReplayCCEL parses a CCEL and returns the four RTMR values it produces and
// its events. Trailing padding (0xff or 0x00 bytes) ends the log.
func ReplayCCEL(b []byte) ([4][48]byte, []CCELEvent, error) {
	var rtmr [4][48]byte
	rd := reader{b: b}
	// The first event is in the SHA-1 log format and carries the
	// TCG_EfiSpecIdEvent naming the digest algorithms and their sizes.
	rd.u32() // MR index
	if t := rd.u32(); t != evNoAction {
		return rtmr, nil, fmt.Errorf("first event has type 0x%x, not the Spec ID event", t)
	}
	rd.bytes(20)
	spec := reader{b: rd.bytes(int(rd.u32()))}
	if rd.err != nil {
		return rtmr, nil, rd.err
	}
	if sig := spec.bytes(16); spec.err != nil || string(sig[:15]) != "Spec ID Event03" {
		return rtmr, nil, errors.New("first event is not a TCG Spec ID Event03")
	}
	spec.bytes(8) // platform class, versions, errata, uintn size
	n := spec.u32()
	if n == 0 || n > 16 {
		return rtmr, nil, fmt.Errorf("spec ID event lists %d algorithms", n)
	}
	sizes := map[uint16]int{}
	for range n {
		alg, size := spec.u16(), spec.u16()
		sizes[alg] = int(size)
	}
	if spec.err != nil {
		return rtmr, nil, spec.err
	}
	if sizes[tpmAlgSHA384] != 48 {
		return rtmr, nil, errors.New("the log has no SHA-384 digests")
	}
	var events []CCELEvent
	for len(rd.b) >= 8 && !padding(rd.b) {
		if len(events) == maxEvents {
			return rtmr, nil, fmt.Errorf("more than %d events", maxEvents)
		}
		mr, typ := rd.u32(), rd.u32()
		count := rd.u32()
		if count == 0 || count > 16 {
			return rtmr, nil, fmt.Errorf("event %d has %d digests", len(events), count)
		}
		var d384 []byte
		for range count {
			alg := rd.u16()
			size, ok := sizes[alg]
			if !ok {
				return rtmr, nil, fmt.Errorf("event %d uses digest algorithm 0x%x not listed in the Spec ID event", len(events), alg)
			}
			d := rd.bytes(size)
			if alg == tpmAlgSHA384 {
				d384 = d
			}
		}
		data := rd.bytes(int(rd.u32()))
		if rd.err != nil {
			return rtmr, nil, fmt.Errorf("event %d: %w", len(events), rd.err)
		}
		if typ == evNoAction {
			continue
		}
		if mr < 1 || mr > 4 {
			return rtmr, nil, fmt.Errorf("event %d extends measurement register %d, not an RTMR", len(events), mr)
		}
		if d384 == nil {
			return rtmr, nil, fmt.Errorf("event %d has no SHA-384 digest", len(events))
		}
		h := sha512.New384()
		h.Write(rtmr[mr-1][:])
		h.Write(d384)
		copy(rtmr[mr-1][:], h.Sum(nil))
		events = append(events, CCELEvent{MR: int(mr), Type: typ, Digest: d384, Data: data})
	}
	return rtmr, events, nil
}

// CheckCCEL replays log and refuses unless it reproduces the TDX claims'
// RTMRs; on success it adds the event count to the claims.
func CheckCCEL(c *Claims, log []byte) error {
	rtmr, events, err := ReplayCCEL(log)
	if err != nil {
		return Refusef("tdx: event log: %v", err)
	}
	for i := range 4 {
		name := fmt.Sprintf("rtmr%d", i)
		if got := hex.EncodeToString(rtmr[i][:]); got != c.Measurements[name] {
			return Refusef("tdx: the event log replays %s to %s, the quote says %s", name, short(rtmr[i][:]), c.Measurements[name])
		}
	}
	if c.Platform == nil {
		c.Platform = map[string]string{}
	}
	c.Platform["eventlog_events"] = fmt.Sprint(len(events))
	return nil
}

func padding(b []byte) bool {
	for _, x := range b {
		if x != 0xff && x != 0 {
			return false
		}
	}
	return true
}

// reader is a little-endian cursor that records the first overrun.
type reader struct {
	b   []byte
	err error
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		if r.err == nil {
			r.err = fmt.Errorf("truncated: need %d bytes, have %d", n, len(r.b))
		}
		r.b = nil
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u32() uint32 {
	b := r.bytes(4)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

func (r *reader) u16() uint16 {
	b := r.bytes(2)
	if b == nil {
		return 0
	}
	return binary.LittleEndian.Uint16(b)
}
