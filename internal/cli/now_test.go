package cli

import "os"

// Tests of this package may pin the policy clock with EMBASSY_NOW;
// production binaries cannot (policy_check.go).
func init() { testNow = func() string { return os.Getenv("EMBASSY_NOW") } }
