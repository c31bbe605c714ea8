package agreement

import "testing"

func BenchmarkParseVerify(b *testing.B) {
	doc := signBoth(b, example(b, "ee-lu"))
	base := DefaultBaseline()
	b.ReportAllocs()
	for b.Loop() {
		a, err := Parse(doc)
		if err != nil || Verify(a) != nil {
			b.Fatal(err)
		}
		if _, err := CheckBaseline(a, base); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDefaultBaseline(b *testing.B) {
	for b.Loop() {
		DefaultBaseline()
	}
}
