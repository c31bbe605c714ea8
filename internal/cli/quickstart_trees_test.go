package cli

import "github.com/digital-embassy/embassy/internal/vault"

// compareTrees is the quickstart's check of a restore (vault.CompareTrees),
// which the restore tests share.
func compareTrees(a, b string) (int, error) { return vault.CompareTrees(a, b) }
