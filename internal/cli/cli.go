// Package cli implements the embassy command line: one file per command,
// each a thin layer over the internal packages. Main is the whole program;
// tests run it in-process.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/digital-embassy/embassy/internal/directio"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/vault"
)

// Exit codes, documented in 'embassy help exit-codes' (cmd_version.go) and
// tested row by row in exitcodes_test.go and testdata/script/help.txtar.
const (
	ExitOK          = 0
	ExitError       = 1
	ExitUsage       = 2
	ExitDamaged     = 3
	ExitKey         = 4
	ExitLocked      = 5
	ExitInterrupted = 130
)

// env is everything a command needs from the outside world.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	homeDir  string
	json     bool
	quiet    bool
	progress string // auto, always, never
	logLevel string
	log      *slog.Logger
	warned   bool // a partial failure was reported: exit 3

	clock     func() time.Time // EMBASSY_NOW or the system clock, read once in setup
	retryLock time.Duration    // --retry-lock
	vaults    map[*home.Home]*vault.Vault
	metrics   *commandMetrics // written for node_exporter at the end (metrics_textfile.go)
}

// Main runs the CLI with args and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr}
	// Large packs and restored files go around the page cache only when
	// asked (EMBASSY_DIRECT_IO; internal/directio).
	if err := directio.Configure(os.Getenv("EMBASSY_DIRECT_IO")); err != nil {
		fmt.Fprintf(stderr, "embassy: warning: %v\n", err)
	}
	if stop := startProfile(); stop != nil {
		defer stop()
	}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	start := time.Now()
	cmd, err := root.ExecuteContextC(ctx)
	for _, v := range e.vaults {
		v.Flush(context.WithoutCancel(ctx)) // key.unwrap entries not yet in the log (vault/custody.go)
	}
	code := ExitOK
	switch {
	case err != nil:
		code = e.fail(err)
	case e.warned:
		code = ExitDamaged
	}
	e.writeCommandMetrics(cmd, code, start)
	return code
}

func (e *env) fail(err error) int {
	if errors.Is(err, context.Canceled) || e.ctx.Err() != nil {
		fmt.Fprintln(e.stderr, "embassy: interrupted; everything committed before the interruption is intact")
		return ExitInterrupted
	}
	code := ExitError
	var ue usageError
	if errors.As(err, &ue) {
		code = ExitUsage
	} else {
		switch hint.CodeOf(err) {
		case hint.CodeUsage:
			code = ExitUsage
		case hint.CodeDamaged:
			code = ExitDamaged
		case hint.CodeKey:
			code = ExitKey
		case hint.CodeLocked:
			code = ExitLocked
		}
	}
	if e.json {
		out := map[string]any{"error": err.Error(), "exit_code": code}
		if h := hint.Of(err); h != "" {
			out["hint"] = h
		}
		b, _ := json.Marshal(out)
		fmt.Fprintln(e.stderr, string(b))
		return code
	}
	fmt.Fprintf(e.stderr, "embassy: error: %s\n", lowerFirst(err.Error()))
	if h := hint.Of(err); h != "" {
		fmt.Fprintf(e.stderr, "embassy: hint: %s\n", h)
	} else if code == ExitUsage {
		fmt.Fprintln(e.stderr, "embassy: hint: see 'embassy help' or add --help to the command")
	}
	return code
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "embassy",
		Short: "Digital Embassy: a sovereign, encrypted vault for a state's critical data abroad",
		Long: `embassy keeps a sending state's critical datasets (registries, document stores,
database dumps, model weights) encrypted at storage sites in other jurisdictions,
under keys only the sending state holds.

Data is chunked, deduplicated, compressed and sealed with AES-256-GCM under
per-dataset keys; those are wrapped with hybrid post-quantum HPKE
(ML-KEM-768 + X25519) under a root key split k-of-n among custodians. Every
site holds a complete, self-describing copy: one site plus k custodians is
enough to rebuild everything on a fresh machine.

Start with 'embassy quickstart' to see the whole cycle on local folders.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return e.setup(cmd)
		},
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&e.homeDir, "home", "", "home folder holding configuration, keys and caches (env EMBASSY_HOME; default: the user's config dir)")
	pf.BoolVar(&e.json, "json", false, "print machine-readable JSON (env EMBASSY_JSON)")
	pf.BoolVarP(&e.quiet, "quiet", "q", false, "print only errors (env EMBASSY_QUIET)")
	pf.StringVar(&e.progress, "progress", "auto", "progress bars: auto (only on a terminal), always, never (env EMBASSY_PROGRESS)")
	pf.StringVar(&e.logLevel, "log-level", "warn", "diagnostic log level on stderr: debug, info, warn, error (env EMBASSY_LOG_LEVEL)")
	pf.DurationVar(&e.retryLock, "retry-lock", 0, "wait up to DURATION for a lock another embassy process holds (e.g. 10m; env EMBASSY_RETRY_LOCK)")
	root.AddGroup(&cobra.Group{ID: "vault", Title: "Vault:"}, &cobra.Group{ID: "keys", Title: "Keys and custody:"}, &cobra.Group{ID: "sites", Title: "Sites:"})
	for _, c := range []*cobra.Command{
		cmdQuickstart(e), cmdInit(e), cmdSnapshot(e), cmdSnapshots(e), cmdLs(e), cmdRestore(e), cmdForget(e), cmdPrune(e), cmdVerify(e), cmdRepair(e),
		cmdProtect(e), cmdStatus(e), cmdDrill(e), cmdOperate(e),
	} {
		c.GroupID = "vault"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{cmdCustodian(e), cmdKey(e), cmdRecover(e)} {
		c.GroupID = "keys"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{cmdSite(e), cmdExit(e), cmdAgreement(e), cmdPolicy(e), cmdAssess(e), cmdPKI(e), cmdServe(e)} {
		c.GroupID = "sites"
		root.AddCommand(c)
	}
	// Commands of the data-in-use, monitoring and planning features, one file each.
	root.AddCommand(cmdBroker(e), cmdAttest(e), cmdWorkload(e), cmdPlan(e), cmdWatch(e), cmdUpgrade(e), cmdUI(e))
	root.AddCommand(cmdLog(e), cmdAudit(e), cmdDisclose(e), cmdDisclosures(e), cmdWitness(e), cmdVersion(e), helpExitCodes(), helpConfig())
	root.AddCommand(cmdBreakGlass(e), cmdIncident(e), cmdAccess(e)) // framework requirements 6, 23, 22 (cmd_breakglass.go, cmd_incident.go, cmd_access.go)
	root.AddCommand(cmdUpdate(e), cmdSBOM(e))                       // framework requirement 16 (cmd_update.go, cmd_sbom.go)
	root.AddCommand(cmdCompute(e), cmdSLA(e))                       // framework requirements 30, 26 (cmd_compute.go, cmd_sla.go)
	usageArgs(root)
	return root
}

// usageArgs makes every argument error a usage error (exit code 2):
// missing or extra arguments, and unknown commands at any level.
func usageArgs(c *cobra.Command) {
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		}
		return
	}
	if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
		c.Args = cobra.ArbitraryArgs
		c.SuggestionsMinimumDistance = 2
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
				if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
					msg += fmt.Sprintf(" (did you mean %q?)", s[0])
				}
				return hint.WithCode(hint.Wrap(errors.New(msg), "see '"+cmd.CommandPath()+" --help' for its commands"), hint.CodeUsage)
			}
			return cmd.Help()
		}
	}
}

// setup applies EMBASSY_* environment defaults for flags not given.
func (e *env) setup(cmd *cobra.Command) error {
	fl := cmd.Flags()
	envDefault := func(name, key string) error {
		f := fl.Lookup(name)
		if f == nil || f.Changed {
			return nil
		}
		if v, ok := os.LookupEnv(key); ok && v != "" {
			if err := f.Value.Set(v); err != nil {
				return usagef("%s=%q: %v", key, v, err)
			}
		}
		return nil
	}
	for name, key := range map[string]string{"home": "EMBASSY_HOME", "json": "EMBASSY_JSON", "quiet": "EMBASSY_QUIET", "progress": "EMBASSY_PROGRESS", "log-level": "EMBASSY_LOG_LEVEL", "retry-lock": "EMBASSY_RETRY_LOCK"} {
		if err := envDefault(name, key); err != nil {
			return err
		}
	}
	switch e.progress {
	case "auto", "always", "never":
	default:
		return usagef("--progress %q: use auto, always or never", e.progress)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(e.logLevel)); err != nil {
		return usagef("--log-level %q: use debug, info, warn or error", e.logLevel)
	}
	e.log = slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: lvl}))
	// Only test builds move the clock (now_test.go sets testNow): in a
	// production binary, whoever sets the environment cannot make an
	// expired agreement valid again.
	nowEnv := ""
	if testNow != nil {
		nowEnv = testNow()
	} else if os.Getenv("EMBASSY_NOW") != "" {
		fmt.Fprintln(e.stderr, "embassy: warning: EMBASSY_NOW is ignored: only test builds move the policy clock")
	}
	clock, err := fixedNow(nowEnv)
	if err != nil {
		return err
	}
	e.clock = clock
	return nil
}

// testNow is set by the package's tests to read EMBASSY_NOW.
var testNow func() string

// printf writes human output unless --quiet or --json.
func (e *env) printf(format string, a ...any) {
	if e.quiet || e.json {
		return
	}
	fmt.Fprintf(e.stdout, format, a...)
}

// warnf reports a problem that does not stop the command (exit code 3).
func (e *env) warnf(format string, a ...any) {
	e.warned = true
	fmt.Fprintf(e.stderr, "embassy: warning: "+format+"\n", a...)
}

// emitJSON prints v as indented JSON on stdout.
func (e *env) emitJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
