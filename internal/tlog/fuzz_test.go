package tlog

import (
	"bytes"
	"testing"
)

func FuzzUnmarshalEntry(f *testing.F) {
	b, _ := testEntry(1).Marshal()
	f.Add(b)
	d := Entry{V: 1, Kind: KindDisclosure, Time: testEntry(2).Time, Site: "lu", Actor: "a", Object: "o", Reason: ReasonEmergency,
		Details: map[string]string{DetailAccess: "physical", DetailAt: "2026-11-01T00:00:00Z"}}
	b, _ = d.Marshal()
	f.Add(b)
	f.Add([]byte(`{"v":2}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := UnmarshalEntry(data)
		if err != nil {
			return
		}
		out, err := e.Marshal()
		if err != nil {
			t.Fatalf("decoded entry does not encode: %v", err)
		}
		e2, err := UnmarshalEntry(out)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		out2, _ := e2.Marshal()
		if !bytes.Equal(out, out2) {
			t.Fatal("encoding is not stable")
		}
	})
}

func FuzzVerifyBundle(f *testing.F) {
	te := filledLog(f, 3)
	r := NewReader(te.dir+"/log", te.policy)
	b, err := r.Export(f.Context(), testEntry(0).Time, testEntry(9).Time, te.signer(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"format":"digital-embassy.org/tlog-bundle@v1"}`))
	f.Add([]byte(`{"format":"digital-embassy.org/tlog-bundle@v2","start":2,"end":1,"seal":"x"}`))
	f.Add(bytes.Replace(b, []byte(`"start": 0`), []byte(`"start": 1`), 1))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, ents, err := VerifyBundle(data, te.policy)
		if err == nil && len(ents) > 3 {
			t.Fatal("more entries than the log holds")
		}
		VerifyBundle(data, nil)
	})
}

func FuzzVerifyReceipt(f *testing.F) {
	te := filledLog(f, 3)
	r := NewReader(te.dir+"/log", te.policy)
	rc, err := r.Receipt(f.Context(), 1)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rc)
	f.Add([]byte("c2sp.org/tlog-proof@v1\nindex 0\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		VerifyReceipt(data, te.policy)
	})
}

func FuzzParsePolicy(f *testing.F) {
	f.Add(newTestEnv(f, "home", "lu").policy.Text)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy(data)
		if err == nil {
			p.VerifyCheckpoint(data)
		}
	})
}
