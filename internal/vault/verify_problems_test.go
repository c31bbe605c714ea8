package vault

import "testing"

func TestProblemsFound(t *testing.T) {
	for n, want := range map[int]string{1: "1 problem found", 2: "2 problems found", 0: "0 problems found"} {
		if got := ProblemsFound(n).Error(); got != want {
			t.Errorf("ProblemsFound(%d) = %q, want %q", n, got, want)
		}
	}
}
