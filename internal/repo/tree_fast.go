package repo

import (
	"bytes"
	"encoding/hex"
	"strconv"
	"time"
	"unicode/utf8"
)

// fastTree decodes the JSON that EncodeTree writes (json.Marshal of a
// wireTree: no whitespace, known keys in lower case, strings without
// escapes) into w, and reports whether it could. Anything else (an
// escape, whitespace, an unknown, repeated or differently cased key,
// xattrs, extents, raw names, null, a number json would refuse) returns
// false, and the caller decodes with encoding/json as before: for every
// input it accepts, the result is the one json.Unmarshal gives
// (TestFastTreeAgreesWithJSON). Decoding the parent's trees with
// encoding/json was a fifth of an incremental snapshot's CPU
// (bench/README.md, round six).
func fastTree(b []byte, w *wireTree) bool {
	p := treeParser{b: b}
	if !p.lit(`{`) {
		return false
	}
	if p.lit(`"version":`) {
		v, ok := p.int(63)
		if !ok || !p.lit(`,`) {
			return false
		}
		w.Version = int(v)
	}
	if !p.lit(`"nodes":[`) {
		return false
	}
	w.Nodes = make([]wireNode, 0, bytes.Count(b, []byte(`{"name":`)))
	if !p.lit(`]`) {
		for {
			w.Nodes = append(w.Nodes, wireNode{})
			if !p.node(&w.Nodes[len(w.Nodes)-1].Node) {
				return false
			}
			if p.lit(`]`) {
				break
			}
			if !p.lit(`,`) {
				return false
			}
		}
	}
	return p.lit(`}`) && p.i == len(p.b)
}

type treeParser struct {
	b []byte
	i int
}

// lit consumes s if the input continues with it.
func (p *treeParser) lit(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// str returns the bytes of a JSON string without escapes, control
// characters or invalid UTF-8 (json.Unmarshal gives those bytes as is).
func (p *treeParser) str() ([]byte, bool) {
	if !p.lit(`"`) {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// uint reads a JSON integer of at most bits bits: digits, no sign, no
// leading zero.
func (p *treeParser) uint(bits int) (uint64, bool) {
	start := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	d := p.b[start:p.i]
	if len(d) == 0 || (len(d) > 1 && d[0] == '0') {
		return 0, false
	}
	// a fraction or an exponent: not what json.Marshal writes for integers
	if p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		return 0, false
	}
	v, err := strconv.ParseUint(string(d), 10, bits)
	return v, err == nil
}

func (p *treeParser) int(bits int) (int64, bool) {
	v, ok := p.uint(bits)
	return int64(v), ok
}

func (p *treeParser) time(t *time.Time) bool {
	start := p.i
	if _, ok := p.str(); !ok {
		return false
	}
	return t.UnmarshalJSON(p.b[start:p.i]) == nil
}

func (p *treeParser) id(id *ID) bool {
	s, ok := p.str()
	if !ok || len(s) != 2*len(id) {
		return false
	}
	_, err := hex.Decode(id[:], s)
	return err == nil
}

// node decodes one node object; each key at most once.
func (p *treeParser) node(n *Node) bool {
	if !p.lit(`{`) {
		return false
	}
	var seen uint32
	for first := true; ; first = false {
		if p.lit(`}`) {
			return true
		}
		if !first && !p.lit(`,`) {
			return false
		}
		key, ok := p.str()
		if !ok || !p.lit(`:`) {
			return false
		}
		bit, ok := nodeKeys[string(key)]
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		var v uint64
		switch bit {
		case keyName, keyType, keyTarget, keyUser, keyGroup:
			s, ok := p.str()
			if !ok {
				return false
			}
			switch bit {
			case keyName:
				n.Name = string(s)
			case keyType:
				n.Type = string(s)
			case keyTarget:
				n.Target = string(s)
			case keyUser:
				n.User = string(s)
			case keyGroup:
				n.Group = string(s)
			}
			continue
		case keyMtime:
			ok = p.time(&n.ModTime)
		case keyCtime:
			ok = p.time(&n.CTime)
		case keySubtree:
			n.Subtree = new(ID)
			ok = p.id(n.Subtree)
		case keyContent:
			ok = p.content(n)
		case keyMode, keyUID, keyGID:
			v, ok = p.uint(32)
			switch bit {
			case keyMode:
				n.Mode = uint32(v)
			case keyUID:
				n.UID = uint32(v)
			case keyGID:
				n.GID = uint32(v)
			}
		case keySize:
			var s int64
			s, ok = p.int(63)
			n.Size = s
		default: // inode, dev, links, rdev
			v, ok = p.uint(64)
			switch bit {
			case keyInode:
				n.Inode = v
			case keyDev:
				n.Dev = v
			case keyLinks:
				n.Links = v
			case keyRdev:
				n.Rdev = v
			}
		}
		if !ok {
			return false
		}
	}
}

func (p *treeParser) content(n *Node) bool {
	if !p.lit(`[`) || p.lit(`]`) { // json.Marshal omits an empty list
		return false
	}
	for {
		n.Content = append(n.Content, ID{})
		if !p.id(&n.Content[len(n.Content)-1]) {
			return false
		}
		if p.lit(`]`) {
			return true
		}
		if !p.lit(`,`) {
			return false
		}
	}
}

const (
	keyName uint32 = 1 << iota
	keyType
	keyMode
	keyMtime
	keySize
	keyUID
	keyGID
	keyInode
	keyCtime
	keyTarget
	keyContent
	keySubtree
	keyUser
	keyGroup
	keyDev
	keyLinks
	keyRdev
)

// nodeKeys are the keys the fast path knows; xattrs, extents, name_raw
// and target_raw go through encoding/json.
var nodeKeys = map[string]uint32{
	"name": keyName, "type": keyType, "mode": keyMode, "mtime": keyMtime, "size": keySize,
	"uid": keyUID, "gid": keyGID, "inode": keyInode, "ctime": keyCtime, "target": keyTarget,
	"content": keyContent, "subtree": keySubtree, "user": keyUser, "group": keyGroup,
	"dev": keyDev, "links": keyLinks, "rdev": keyRdev,
}
