// Command embassyd is the embassy daemon, run at a host site over its
// storage; see internal/daemon.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/digital-embassy/embassy/internal/daemon"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := daemon.Main(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}
