// Command embassyd is the embassy daemon, run at a host site over its
// storage; see internal/daemon. With --role broker (first argument) it is
// instead the sending state's key broker, run at home: exactly 'embassy
// broker serve' with the remaining arguments (--home, --listen, --host),
// since the broker needs the home's root key and vault, which a host
// site's daemon never holds.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/digital-embassy/embassy/internal/cli"
	"github.com/digital-embassy/embassy/internal/daemon"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var code int
	switch role, rest := roleOf(os.Args[1:]); role {
	case "broker":
		code = cli.Main(ctx, append([]string{"broker", "serve"}, rest...), os.Stdin, os.Stdout, os.Stderr)
	case "site":
		code = daemon.Main(ctx, rest, os.Stderr)
	default:
		fmt.Fprintf(os.Stderr, "embassyd: error: --role %q: use site (the default: a host site's daemon) or broker (the key broker, at home)\n", role)
		code = 2
	}
	stop()
	os.Exit(code)
}

// roleOf splits a leading --role ROLE (or --role=ROLE) off args; without
// it the role is site.
func roleOf(args []string) (string, []string) {
	if len(args) == 0 {
		return "site", args
	}
	a := strings.TrimPrefix(strings.TrimPrefix(args[0], "-"), "-")
	switch {
	case a == "role" && len(args) >= 2:
		return args[1], args[2:]
	case strings.HasPrefix(a, "role="):
		return strings.TrimPrefix(a, "role="), args[1:]
	}
	return "site", args
}
