// Command embassy is the Digital Embassy CLI: a sovereign vault that keeps a
// state's critical data encrypted at host sites abroad under keys only the
// sending state holds. Run 'embassy help' for the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/digital-embassy/embassy/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
