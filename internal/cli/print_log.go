package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/digital-embassy/embassy/internal/vault"
)

func logDash(s string) string {
	if s == "" {
		return "-"
	}
	return termSafe(s) // entries hold host-written text (cmd_disclose.go)
}

func logClip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (e *env) printLog(res *vault.LogResult) error {
	rows := res.Entries
	if e.json {
		return e.emitJSON(rows)
	}
	if e.quiet {
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INDEX\tTIME\tKIND\tACTOR\tSITE\tDATASET\tOBJECT\tREASON")
	for _, x := range rows {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.Index, x.Time.Local().Format("2006-01-02 15:04:05"),
			x.Kind, logDash(x.Actor), logDash(x.Site), logDash(x.Dataset), logDash(logClip(x.Object, 16)), logDash(x.Reason))
	}
	tw.Flush()
	if res.Size > 0 {
		fmt.Fprintf(e.stdout, "%d of %d entries; checkpoint %d cosigned by the witness quorum\n", len(rows), res.Size, res.Size)
	}
	if n := len(res.Pending); n > 0 {
		fmt.Fprintf(e.stdout, "%d key.unwrap entries of read-only commands pending in log/%s: appended with the next command that writes the log\n", n, vault.PendingFile)
	}
	return nil
}
