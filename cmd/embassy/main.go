// Command embassy is the Digital Embassy CLI: a sovereign vault that keeps a
// state's critical data encrypted at host sites abroad under keys only the
// sending state holds. Run 'embassy help' for the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/digital-embassy/embassy/internal/cli"
)

// gcPercent is the collector's target: collect when the heap has grown by
// a quarter since the last collection, not doubled (Go's default). The
// big working sets of a snapshot or restore are byte buffers the
// collector scans cheaply, so this keeps peak memory near the live heap
// for a few percent more CPU (bench/README.md). GOGC in the environment
// wins.
const gcPercent = 25

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
		if os.Getenv("GOMEMLIMIT") == "" {
			startMemLimit(gcPercent)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
