package repo

import (
	"os"
)

// EMBASSY_TEST_DISK_INDEX=1 runs the package's tests with every dataset's
// index in a cache file (DiskIndexMin 0), to show both paths behave alike.
func init() {
	if os.Getenv("EMBASSY_TEST_DISK_INDEX") == "1" {
		DiskIndexMin = 0
		dir, err := os.MkdirTemp("", "embassy-test-index-cache-")
		if err != nil {
			panic(err)
		}
		testCacheDir = dir
	}
}
