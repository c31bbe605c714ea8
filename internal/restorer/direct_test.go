package restorer

import (
	"os"
	"testing"

	"github.com/digital-embassy/embassy/internal/directio"
)

// TestMain runs this package's tests with direct restore writes on (they
// are off by default), so that every restore test of a large file covers
// them.
func TestMain(m *testing.M) {
	directio.SetUses(directio.Restore)
	os.Exit(m.Run())
}
