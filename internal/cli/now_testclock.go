//go:build embassy_testclock

package cli

import "os"

// Binaries built with -tags embassy_testclock move the vault's clock with
// EMBASSY_NOW, as the package's own tests do (now_test.go): the
// real-binary tests of cmd/embassy use one to let hours pass without
// sleeping. Release builds never carry the tag.
func init() { testNow = func() string { return os.Getenv("EMBASSY_NOW") } }
