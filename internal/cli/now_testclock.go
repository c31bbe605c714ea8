//go:build embassy_testclock

package cli

import "os"

// A binary built with -tags embassy_testclock reads EMBASSY_NOW, so that
// real-binary tests can move the clock (cmd/embassy: the exit deadline).
// Builds without the tag (every build but that test's) ignore it: there
// whoever sets the environment cannot make an expired agreement valid
// again (cli.go).
func init() { testNow = func() string { return os.Getenv("EMBASSY_NOW") } }
