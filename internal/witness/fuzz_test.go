package witness

import "testing"

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte("old 0\n\nexample.invalid/log\n1\nAAAA\n\n— x AAAA\n"))
	f.Add([]byte("old 5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\ncp"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRequest(data)
		if err == nil && len(r.Proof) > 63 {
			t.Fatal("more than 63 proof lines")
		}
	})
}

func FuzzAddCheckpoint(f *testing.F) {
	l := newFakeLog(f)
	s, _, err := LoadOrCreateKey(f.TempDir(), "w", Ed25519)
	if err != nil {
		f.Fatal(err)
	}
	w, err := New(Config{Dir: f.TempDir(), Signer: s, Logs: []string{l.vkey}})
	if err != nil {
		f.Fatal(err)
	}
	l.add(3, "a")
	f.Add(l.request(f, 0, 3))
	l.add(3, "a")
	f.Add(l.request(f, 3, 6))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRequest(data)
		if err != nil {
			return
		}
		w.AddCheckpoint(r)
	})
}
