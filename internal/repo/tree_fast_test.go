package repo

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// fastTreeCases are encoded trees the fast path takes (the common
// shapes) and some it must leave to encoding/json.
func fastTreeCases(t testing.TB) [][]byte {
	big := &Tree{}
	for i := range 50 {
		sub := fixID(byte(i))
		big.Nodes = append(big.Nodes,
			Node{Name: "f" + string(rune('a'+i%26)) + string(rune('0'+i/26)), Type: NodeFile, Mode: 0o644, ModTime: fixTime(i), Size: int64(i) << 20,
				UID: uint32(i), GID: 7, Inode: uint64(1e9 + i), CTime: fixTime(i + 1).In(time.FixedZone("x", 3600)), Content: []ID{fixID(1), fixID(byte(i))}},
			Node{Name: "d" + string(rune('a'+i%26)) + string(rune('0'+i/26)), Type: NodeDir, Mode: 0o755 | 0x100000, ModTime: fixTime(i), Subtree: &sub,
				User: "alice", Group: "users", Links: 0},
			Node{Name: "h" + string(rune('a'+i%26)) + string(rune('0'+i/26)), Type: NodeFile, Size: 1, Dev: 64769, Links: 2, Inode: 5, Content: []ID{fixID(3)}},
		)
	}
	var out [][]byte
	for _, tr := range []*Tree{fixTree(), fixTreeV2(), big, {}, {Nodes: []Node{{Name: "<&>\"\\", Type: NodeSymlink, Target: "ü/\u2028"}}}} {
		b, err := EncodeTree(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return append(out, []byte(`{"nodes":[]}`), []byte(`{"nodes":null}`), []byte(`{"version":2,"nodes":[{}]}`),
		[]byte(`{"nodes":[{"name":"a","Name":"b"}]}`), []byte(`{"nodes":[{"name":"a","name":"b"}]}`),
		[]byte(`{"nodes":[{"name":"a","size":01}]}`), []byte(`{"nodes":[{"name":"a","mode":4294967296}]}`),
		[]byte(`{"nodes":[{"name":"a","size":1e3}]}`), []byte(`{"nodes":[{"name":"a","content":[]}]}`),
		[]byte(`{"nodes":[{"name":"a","subtree":null}]}`), []byte(`{"nodes":[{"name":"\xff"}]}`),
		[]byte(`{"nodes":[{"name":"a","mtime":"2020-01-01T00:00:00Z"}]} `), []byte(`{"nodes":[{"name":"a","mtime":"2020-13-01T00:00:00Z"}]}`))
}

// checkFastTree: whenever the fast path decodes b, encoding/json decodes
// it without error to the same value.
func checkFastTree(t testing.TB, b []byte) bool {
	var fast, slow wireTree
	if !fastTree(b, &fast) {
		return false
	}
	if err := json.Unmarshal(b, &slow); err != nil {
		t.Fatalf("fast path accepted what json refuses (%v):\n%q", err, b)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("fast path and json differ on\n%q\nfast %#v\njson %#v", b, fast, slow)
	}
	return true
}

// TestFastTreeAgreesWithJSON: the fast path gives what encoding/json
// gives, on trees EncodeTree writes and on many corruptions of them
// (bytes changed, removed, duplicated), and takes the common trees.
func TestFastTreeAgreesWithJSON(t *testing.T) {
	cases := fastTreeCases(t)
	for i, b := range cases[:3] {
		if !checkFastTree(t, b) && i != 1 { // fixTreeV2 has xattrs and raw names
			t.Fatalf("case %d: the fast path refused an ordinary tree:\n%s", i, b)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte(`{}[]",:0123456789-.eE\ ansmtiucgdvolrxf` + "\x00\xff")
	for _, b := range cases {
		checkFastTree(t, b)
		for range 2000 {
			m := append([]byte(nil), b...)
			for range 1 + rng.IntN(3) {
				if len(m) == 0 {
					break
				}
				j := rng.IntN(len(m))
				switch rng.IntN(3) {
				case 0:
					m[j] = alphabet[rng.IntN(len(alphabet))]
				case 1:
					m = append(m[:j], m[j+1:]...)
				default:
					k := min(len(m), j+1+rng.IntN(8))
					m = append(m[:k], append(append([]byte(nil), m[j:k]...), m[k:]...)...)
				}
			}
			checkFastTree(t, m)
		}
	}
}

func FuzzFastTree(f *testing.F) {
	for _, b := range fastTreeCases(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkFastTree(t, b) })
}
