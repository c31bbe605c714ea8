package vault

import "fmt"

// ProblemsFound is the error a check that found n problems returns:
// "1 problem found", "2 problems found". verify, verify --proof, repair
// and quickstart all say it the same way.
func ProblemsFound(n int) error {
	if n == 1 {
		return fmt.Errorf("1 problem found")
	}
	return fmt.Errorf("%d problems found", n)
}
