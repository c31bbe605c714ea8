package class

import "testing"

func TestParse(t *testing.T) {
	for in, want := range map[string]string{
		"C2-I3-A3": "C2-I3-A3", "c0-i0-a0": "C0-I0-A0", "A1-C3-I2": "C3-I2-A1",
		"restricted": "C2-I3-A3", "Public": "C0-I1-A1", "secret": "C3-I3-A3",
	} {
		l, err := Parse(in)
		if err != nil || l.String() != want {
			t.Errorf("Parse(%q) = %v, %v; want %s", in, l, err, want)
		}
	}
	for _, bad := range []string{"", "C4-I1-A1", "C1-I1", "C1-C1-A1", "X1-I1-A1", "top"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("C2-I3-A3")
	f.Add("secret")
	f.Fuzz(func(t *testing.T, s string) {
		l, err := Parse(s)
		if err != nil {
			return
		}
		l2, err := Parse(l.String())
		if err != nil || l2 != l {
			t.Fatalf("round trip of %q: %v %v", s, l2, err)
		}
	})
}
