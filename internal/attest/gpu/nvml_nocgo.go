//go:build !cgo || !linux

package gpu

import "fmt"

// Real returns a library that always fails: go-nvml needs cgo on Linux,
// and this binary was built without it.
func Real() NVML { return nocgo{} }

type nocgo struct{}

func (nocgo) Init() error {
	return fmt.Errorf("%w: this binary was built without cgo (CGO_ENABLED=0) or not for Linux", ErrNoLibrary)
}
func (nocgo) Shutdown() error              { return nil }
func (nocgo) CCState() (bool, bool, error) { return false, false, ErrNoLibrary }
func (nocgo) DeviceCount() (int, error)    { return 0, ErrNoLibrary }
func (nocgo) Device(int) (Device, error)   { return nil, ErrNoLibrary }
