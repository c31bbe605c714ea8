// Package protect keeps datasets continuously protected: it captures
// sources (folders, SQLite files, PostgreSQL databases) on a schedule or
// when they change, snapshots them into the vault, measures replication lag
// per dataset and site against each dataset's RPO, and raises alerts.
package protect

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/digital-embassy/embassy/internal/locate"
	"github.com/digital-embassy/embassy/internal/repo"
)

// FileName is the protection configuration in the home.
const FileName = "protect.yaml"

// Config is <home>/protect.yaml.
type Config struct {
	Poll     time.Duration `yaml:"poll,omitempty"` // how often sources and lag are checked (default 10s)
	Datasets []Dataset     `yaml:"datasets"`
	// Schedule sets the home's scheduled jobs that 'embassy protect' runs
	// besides the snapshots (vault.Scheduler): agreement expiry, the
	// inventory scan, integrity, the configuration history, drills.
	Schedule Schedule `yaml:"schedule,omitempty"`
}

// Schedule configures the scheduled jobs; a zero interval is the default.
type Schedule struct {
	Agreements AgreementJob `yaml:"agreements,omitempty"`
	Inventory  Interval     `yaml:"inventory,omitempty"`
	Integrity  IntegrityJob `yaml:"integrity,omitempty"`
	Config     Interval     `yaml:"config,omitempty"`
	Drills     []DrillJob   `yaml:"drills,omitempty"`
	// The host-facing checks (vault/schedule_host.go): access requests
	// and incidents filed at the daemons, the daemons' builds, the SLA
	// probes, the compute reservations, the location evidence.
	Host     Interval    `yaml:"host,omitempty"`
	Updates  Interval    `yaml:"updates,omitempty"`
	SLA      Interval    `yaml:"sla,omitempty"`
	Compute  Interval    `yaml:"compute,omitempty"`
	Location LocationJob `yaml:"location,omitempty"`
}

// LocationJob measures where each daemon site is from the home's
// position ('embassy site locate'); without From it is not configured.
type LocationJob struct {
	Interval  `yaml:",inline"`
	From      string            `yaml:"from,omitempty"`       // the home's position, LAT,LON
	Witnesses map[string]string `yaml:"witness-at,omitempty"` // host witness name: LAT,LON
}

// Interval is how often a job runs; Off turns it off.
type Interval struct {
	Every time.Duration `yaml:"every,omitempty"`
	Off   bool          `yaml:"off,omitempty"`
}

// AgreementJob checks the installed agreements' terms.
type AgreementJob struct {
	Interval   `yaml:",inline"`
	NoticeDays int `yaml:"notice-days,omitempty"` // alert this many days before an agreement ends (default 60)
}

// IntegrityJob verifies the sites and compares their signed state and the
// log's root with the home's and a third location.
type IntegrityJob struct {
	Interval `yaml:",inline"`
	// ReadDataEvery reads and authenticates every pack on one run in this
	// many (default 24); the others check metadata only.
	ReadDataEvery int `yaml:"read-data-every,omitempty"`
}

// DrillJob is a restore drill run on the cadence of the agreements of the
// plan's sites (operations.restore-drill-every-days, baseline if none).
type DrillJob struct {
	Plan           string        `yaml:"plan"`                      // a continuity plan ('embassy drill --help')
	Identities     []string      `yaml:"identities,omitempty"`      // custodian identity files added to the plan's
	PassphraseFile string        `yaml:"passphrase-file,omitempty"` // for encrypted identities
	Every          time.Duration `yaml:"every,omitempty"`           // sooner than the agreements require (never later)
}

// Default job intervals.
const (
	DefaultAgreementsEvery = 12 * time.Hour // an expiry is flagged within 24 h
	DefaultInventoryEvery  = 6 * time.Hour
	DefaultIntegrityEvery  = time.Hour
	DefaultConfigEvery     = time.Hour
	DefaultNoticeDays      = 60
	DefaultReadDataEvery   = 24
	DefaultHostEvery       = 5 * time.Minute
	DefaultUpdatesEvery    = time.Hour
	DefaultSLAEvery        = 5 * time.Minute
	DefaultComputeEvery    = time.Hour
	DefaultLocationEvery   = 24 * time.Hour
)

// Dataset is one protected source.
type Dataset struct {
	Name     string        `yaml:"name"`
	Source   Source        `yaml:"source"`
	Every    time.Duration `yaml:"every,omitempty"`     // snapshot at least this often (default RPO/2)
	OnChange bool          `yaml:"on-change,omitempty"` // snapshot as soon as a poll sees a change
	RPO      time.Duration `yaml:"rpo"`                 // the most data the state accepts to lose
	Class    string        `yaml:"class,omitempty"`
}

// Source kinds.
const (
	KindDir      = "dir"
	KindSQLite   = "sqlite"
	KindPostgres = "postgres"
)

// Source says where a dataset's data comes from.
type Source struct {
	Type string `yaml:"type"` // dir, sqlite, postgres
	Path string `yaml:"path,omitempty"`

	// PostgreSQL (pg_dump connection options; PG* environment variables apply too).
	Database string `yaml:"database,omitempty"`
	Host     string `yaml:"host,omitempty"`
	Port     int    `yaml:"port,omitempty"`
	User     string `yaml:"user,omitempty"`
	Format   string `yaml:"format,omitempty"`  // custom (default) or plain
	PgDump   string `yaml:"pg-dump,omitempty"` // pg_dump binary (default: from PATH)
	Psql     string `yaml:"psql,omitempty"`    // psql binary for change detection (default: from PATH)

	// SQLite.
	SQLite3 string `yaml:"sqlite3,omitempty"` // sqlite3 binary (default: from PATH; copy-and-check without it)
}

// DefaultPoll is the poll interval when none is configured.
const DefaultPoll = 10 * time.Second

// Load reads the configuration at path strictly.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f, filepath.Dir(path))
}

// Parse reads a configuration; relative paths are resolved against dir.
func Parse(r io.Reader, dir string) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("protect config: %w", err)
	}
	if c.Poll == 0 {
		c.Poll = DefaultPoll
	}
	for i := range c.Datasets {
		d := &c.Datasets[i]
		if d.Source.Path != "" && !filepath.IsAbs(d.Source.Path) {
			d.Source.Path = filepath.Join(dir, d.Source.Path)
		}
		if d.Every == 0 && d.RPO > 0 {
			d.Every = d.RPO / 2
		}
		if d.Source.Format == "" && d.Source.Type == KindPostgres {
			d.Source.Format = "custom"
		}
	}
	sc := &c.Schedule
	for _, iv := range []struct {
		p   *time.Duration
		def time.Duration
	}{{&sc.Agreements.Every, DefaultAgreementsEvery}, {&sc.Inventory.Every, DefaultInventoryEvery},
		{&sc.Integrity.Every, DefaultIntegrityEvery}, {&sc.Config.Every, DefaultConfigEvery},
		{&sc.Host.Every, DefaultHostEvery}, {&sc.Updates.Every, DefaultUpdatesEvery}, {&sc.SLA.Every, DefaultSLAEvery},
		{&sc.Compute.Every, DefaultComputeEvery}, {&sc.Location.Every, DefaultLocationEvery}} {
		if *iv.p == 0 {
			*iv.p = iv.def
		}
	}
	if sc.Agreements.NoticeDays == 0 {
		sc.Agreements.NoticeDays = DefaultNoticeDays
	}
	if sc.Integrity.ReadDataEvery == 0 {
		sc.Integrity.ReadDataEvery = DefaultReadDataEvery
	}
	for i := range sc.Drills {
		d := &sc.Drills[i]
		for _, p := range append([]*string{&d.Plan, &d.PassphraseFile}, ptrs(d.Identities)...) {
			if *p != "" && !filepath.IsAbs(*p) {
				*p = filepath.Join(dir, *p)
			}
		}
	}
	return &c, c.Validate()
}

func ptrs(s []string) []*string {
	out := make([]*string, len(s))
	for i := range s {
		out[i] = &s[i]
	}
	return out
}

// Validate returns the first invalid field, by path.
func (c *Config) Validate() error {
	if c.Poll < 0 {
		return errors.New("poll: must not be negative")
	}
	sc := c.Schedule
	for name, d := range map[string]time.Duration{"agreements": sc.Agreements.Every, "inventory": sc.Inventory.Every,
		"integrity": sc.Integrity.Every, "config": sc.Config.Every, "host": sc.Host.Every, "updates": sc.Updates.Every,
		"sla": sc.SLA.Every, "compute": sc.Compute.Every, "location": sc.Location.Every} {
		if d < 0 {
			return fmt.Errorf("schedule.%s.every: must not be negative", name)
		}
	}
	if sc.Agreements.NoticeDays < 0 {
		return errors.New("schedule.agreements.notice-days: must not be negative")
	}
	if sc.Integrity.ReadDataEvery < 0 {
		return errors.New("schedule.integrity.read-data-every: must not be negative")
	}
	if l := sc.Location; l.From != "" {
		if _, err := locate.ParsePoint(l.From); err != nil {
			return fmt.Errorf("schedule.location.from: %w (the home's position, LAT,LON in decimal degrees)", err)
		}
	}
	for name, at := range sc.Location.Witnesses {
		if _, err := locate.ParsePoint(at); err != nil {
			return fmt.Errorf("schedule.location.witness-at.%s: %w (LAT,LON in decimal degrees)", name, err)
		}
	}
	for i, d := range sc.Drills {
		if d.Plan == "" {
			return fmt.Errorf("schedule.drills[%d].plan: missing (a continuity plan, see 'embassy drill --help')", i)
		}
		if d.Every < 0 {
			return fmt.Errorf("schedule.drills[%d].every: must not be negative", i)
		}
	}
	seen := map[string]bool{}
	for i, d := range c.Datasets {
		at := fmt.Sprintf("datasets[%d]", i)
		if err := repo.ValidDatasetName(d.Name); err != nil {
			return fmt.Errorf("%s.name: %w", at, err)
		}
		if seen[d.Name] {
			return fmt.Errorf("%s.name: %s listed twice", at, d.Name)
		}
		seen[d.Name] = true
		if d.RPO <= 0 {
			return fmt.Errorf("%s.rpo: give the dataset's recovery point objective, e.g. 15m", at)
		}
		if d.Every < 0 {
			return fmt.Errorf("%s.every: must not be negative", at)
		}
		switch s := d.Source; s.Type {
		case KindDir, KindSQLite:
			if s.Path == "" {
				return fmt.Errorf("%s.source.path: missing", at)
			}
		case KindPostgres:
			if s.Database == "" {
				return fmt.Errorf("%s.source.database: missing", at)
			}
			if s.Format != "custom" && s.Format != "plain" {
				return fmt.Errorf("%s.source.format: %q, use custom or plain", at, s.Format)
			}
		default:
			return fmt.Errorf("%s.source.type: %q, use dir, sqlite or postgres", at, s.Type)
		}
	}
	return nil
}

// Find returns the dataset named name.
func (c *Config) Find(name string) (*Dataset, bool) {
	for i := range c.Datasets {
		if c.Datasets[i].Name == name {
			return &c.Datasets[i], true
		}
	}
	return nil, false
}
