package cli

import (
	"os"
	"runtime/pprof"
	"runtime/trace"
)

// startProfile writes a CPU profile to $EMBASSY_CPUPROFILE, a heap profile
// to $EMBASSY_MEMPROFILE and an execution trace (`go tool trace`: where
// goroutines wait) to $EMBASSY_TRACE, for performance work. It returns nil
// when none is set.
func startProfile() func() {
	cpu, mem, tr := os.Getenv("EMBASSY_CPUPROFILE"), os.Getenv("EMBASSY_MEMPROFILE"), os.Getenv("EMBASSY_TRACE")
	if cpu == "" && mem == "" && tr == "" {
		return nil
	}
	var f, t *os.File
	if cpu != "" {
		var err error
		if f, err = os.Create(cpu); err == nil {
			_ = pprof.StartCPUProfile(f)
		}
	}
	if tr != "" {
		var err error
		if t, err = os.Create(tr); err == nil {
			_ = trace.Start(t)
		}
	}
	return func() {
		if f != nil {
			pprof.StopCPUProfile()
			f.Close()
		}
		if t != nil {
			trace.Stop()
			t.Close()
		}
		if mem != "" {
			if m, err := os.Create(mem); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(m, 0)
				m.Close()
			}
		}
	}
}
