package cli

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func cmdVersion(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := "(devel)"
			if bi, ok := debug.ReadBuildInfo(); ok {
				v = bi.Main.Version
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" && len(s.Value) >= 12 {
						v += " " + s.Value[:12]
					}
				}
			}
			if e.json {
				return e.emitJSON(map[string]string{"version": v, "repository_format": "embassy.repo.v1"})
			}
			fmt.Fprintf(e.stdout, "embassy %s (repository format embassy.repo.v1)\n", v)
			return nil
		},
	}
}

func helpExitCodes() *cobra.Command {
	return &cobra.Command{
		Use:   "exit-codes",
		Short: "Exit codes and what they mean",
		Long: `embassy exits with:

  0    success
  1    an error; the operation did not happen (a snapshot that fails saved
       nothing). The message says what and how to fix it
  2    bad flags or arguments: an unknown command or flag, a missing or extra
       argument, an invalid value
  3    done, with problems reported as warnings: damage found by verify or
       left by repair; some sites failed while others took everything; files
       that could not be read were left out of a snapshot; a policy
       shortfall (fewer copies or jurisdictions than the class asks; the
       snapshot was saved; a class rule with require-copies refuses instead,
       exit 1); the operation was done but could not be recorded in the
       transparency log. Sites the policy denies are notes, not warnings
  4    a missing, wrong or insufficient key, identity or set of custodian shares
  5    another embassy process holds a conflicting lock (the message names it;
       --retry-lock DURATION waits for it)
  130  interrupted (Ctrl-C or SIGTERM); everything committed before is intact`,
	}
}

func helpConfig() *cobra.Command {
	return &cobra.Command{
		Use:   "config",
		Short: "The home folder, every file in it, and every key of embassy.yaml",
		Long: `A home is one folder (--home DIR, or EMBASSY_HOME, default: the user's config
directory + /embassy) holding everything the sending state keeps locally.
Nothing is written outside the home and the sites.

Files and folders of a home:

  embassy.yaml         the configuration (keys below)
  keys/root-N.key      the root key of epoch N (mode 0600; the sending state's secret)
  custodians/          custodian cards written by init for custodians given as
                       recipient strings (custodian-N.txt: the home fingerprint)
  meta/                a mirror of the vault's small config and key objects (lets
                       a home exist before its first site, and bootstraps new sites)
  locks/               advisory locks between embassy processes (NAME.lock) and
                       the operations holding them (NAME.PID.*.holder)
  log/                 the transparency log: log.key, log.pub, policy (witnesses
                       and quorum), tiles/ (or storage: S3 + MySQL), witness/home/
                       and witness/home-pq/ (the home's own witnesses), alerts.jsonl,
                       cursors/ (events pulled from daemon sites)
  policy.yaml          policy settings: home-state, home-location, class rules
                       (optional; the baseline's defaults otherwise; docs/POLICY.md)
  agreements/          installed, verified hosting agreements (ID.yaml)
  pki/                 the home's certificate authority and certificates (ca.crt,
                       home.crt, home.key, ...) for embassy:// sites
  protect.yaml         continuous-protection datasets ('embassy protect --help')
  alerts.jsonl         RPO alerts raised by protect
  schedule/            the scheduled jobs' state (state.json: last run, result and
                       what each job already alerted on; 'embassy protect --help')
  evidence/            what audit bundles carry besides the log: config/SHA256 (every
                       logged configuration version), drills/ (signed drill reports)
  exits/               open exits from host sites (SITE.json: start, the agreement's
                       deadline; 'embassy exit status')
  events.jsonl         the local journal of continuity events (drills, alerts, crises)
  watch.yaml           the watcher's notification routes: webhooks, e-mail, quiet
                       periods ('embassy watch --help')
  watch/               the watcher's state (state.json: what was already reported)
  ui/                  the dashboard's one-time sign-in links (links.json, hashes
                       only) and registered passkeys (passkeys.json)
  broker/              the key broker's state: approved and pending workload
                       reference values ('embassy broker --help')
  operate-revoked.json the home's signed list of revoked operate tokens
  access/              the home's access-decision key (decision.key, 0600, and
                       decision.pub: 'embassy access key', embassyd --access-key)
  updates/             update control: approved/ID.json (signed approvals of daemon
                       builds and measurements), revoked.json, seen.json (what was
                       already alerted on; 'embassy update --help')
  sla/                 signed monthly SLA reports (ID-MONTH.note) and probes.jsonl
                       (the availability probes they measure; 'embassy sla --help')
  workloads.yaml       the sending state's declared workloads with their governing
                       law and jurisdictions ('embassy compute --help')
  cache/               rebuildable caches: protect's captures, index/DATASET.idx (the
                       on-disk blob index of large datasets, docs/FORMAT.md §9.1;
                       safe to delete, rebuilt on the next open)

embassy.yaml:

  home: h0123...            # the home's id (set by init; do not edit)
  description: text
  compression: auto         # auto (per chunk, only where it shrinks), off, max
  pack-size-mib: 8          # target size of pack files at the sites
  home-state: EE            # the sending state (ISO 3166-1 alpha-2)
  home-location: 59.43,24.75  # the home data centre, for distance rules
  witness-wait: 30s         # how long an entry waits for the witness quorum (1s..1h)
  sites:
    - name: lu-1
      url: /mnt/embassy-lu  # a folder, file:///path, s3://host:port/bucket/prefix,
                            # embassy://host:port or erasure:K+M?members=a,b,c
      jurisdiction: LU      # ISO 3166-1 alpha-2
      operator: LU Government IT Centre
      agreement: EE-LU-2017 # the installed agreement the site is hosted under
      location: 49.61,6.13  # LAT,LON
      tier: 4               # facility tier (1-4)
      member: false         # true: holds shards of an erasure group, not a replica
      retain-days: 0        # object-lock retention of vault data, in days

Environment variables: EMBASSY_HOME, EMBASSY_JSON, EMBASSY_QUIET,
EMBASSY_PROGRESS, EMBASSY_LOG_LEVEL and EMBASSY_RETRY_LOCK set the flags of
the same name; EMBASSY_NOW (RFC 3339 or a date) pins the clock for
reproducible reports; EMBASSY_CACHE is where scripts keep downloaded tools;
EMBASSY_DIRECT_IO chooses what bypasses the page cache with O_DIRECT:
"off" (the default: nothing), "restore" (restored files of 128 KiB or
more), "sites" (packs at local site folders, also embassyd's store), or
"on" (both); it pays on a VM where filling the page cache is dear and the
disk is fast; embassyd reads it too; S3 sites read AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.`,
	}
}
