package cli

import (
	"os"
	"runtime/pprof"
)

// startProfile writes a CPU profile to $EMBASSY_CPUPROFILE and a heap
// profile to $EMBASSY_MEMPROFILE, for performance work. It returns nil when
// neither is set.
func startProfile() func() {
	cpu, mem := os.Getenv("EMBASSY_CPUPROFILE"), os.Getenv("EMBASSY_MEMPROFILE")
	if cpu == "" && mem == "" {
		return nil
	}
	var f *os.File
	if cpu != "" {
		var err error
		if f, err = os.Create(cpu); err == nil {
			_ = pprof.StartCPUProfile(f)
		}
	}
	return func() {
		if f != nil {
			pprof.StopCPUProfile()
			f.Close()
		}
		if mem != "" {
			if m, err := os.Create(mem); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(m, 0)
				m.Close()
			}
		}
	}
}
