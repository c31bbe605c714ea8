// Package home manages the sending state's home: the one folder that holds
// its configuration, its root keys and its caches. Nothing else is written
// outside it and the sites.
package home

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/keys"
)

// ConfigFile is the name of the configuration file inside a home.
const ConfigFile = "embassy.yaml"

// Config is the home's single configuration file.
type Config struct {
	Home        string `yaml:"home"`                  // home id, set by init
	Description string `yaml:"description,omitempty"` // free text
	Compression string `yaml:"compression,omitempty"` // auto (default), off, max
	PackSizeMiB int    `yaml:"pack-size-mib,omitempty"`
	// HomeState is the sending state (ISO 3166 alpha-2); HomeLocation its
	// primary data centre as "lat,lon", for distance rules.
	HomeState    string `yaml:"home-state,omitempty"`
	HomeLocation string `yaml:"home-location,omitempty"`
	// WitnessWait is how long a command waits for the witness quorum to
	// cosign a checkpoint covering its log entry before it fails (a Go
	// duration, 1s..1h; empty: 30s). Slow links to host witnesses may
	// need more.
	WitnessWait string       `yaml:"witness-wait,omitempty"`
	Sites       []SiteConfig `yaml:"sites"`
}

// Witness-wait bounds and default (Config.WitnessWait).
const (
	MinWitnessWait     = time.Second
	MaxWitnessWait     = time.Hour
	DefaultWitnessWait = 30 * time.Second
)

// WitnessWaitDuration is WitnessWait as a duration (DefaultWitnessWait
// when unset; Validate has checked it).
func (c Config) WitnessWaitDuration() time.Duration {
	d, err := time.ParseDuration(c.WitnessWait)
	if err != nil || d < MinWitnessWait || d > MaxWitnessWait {
		return DefaultWitnessWait
	}
	return d
}

// SiteConfig is one storage site in the registry.
type SiteConfig struct {
	Name         string `yaml:"name"`
	URL          string `yaml:"url"`
	Jurisdiction string `yaml:"jurisdiction"`
	Operator     string `yaml:"operator,omitempty"`
	Agreement    string `yaml:"agreement,omitempty"`
	Location     string `yaml:"location,omitempty"` // "lat,lon"
	Tier         int    `yaml:"tier,omitempty"`
	// Member marks a site that holds shards for an erasure-coded group
	// (a site whose URL is "erasure:K+M?members=..."), not a replica of
	// its own.
	Member bool `yaml:"member,omitempty"`
	// RetainDays asks the site to refuse deletion of vault data (packs,
	// indexes, manifests, key epochs) for this many days after it is
	// written (S3 object lock, COMPLIANCE mode). Wrapped keys and custodian
	// shares are never retained, so crypto-shredding stays possible.
	RetainDays int `yaml:"retain-days,omitempty"`
}

// IsGroup reports whether the site is an erasure-coded group of members.
func (s SiteConfig) IsGroup() bool { return strings.HasPrefix(s.URL, "erasure:") }

// Default returns the configuration of a new home.
func Default() Config { return Config{Compression: "auto", PackSizeMiB: 8} }

// maxConfigSize bounds the configuration file.
const maxConfigSize = 1 << 20

// Parse reads a configuration strictly (unknown keys are errors). Errors
// name the offending field.
func Parse(r io.Reader) (Config, error) {
	c := Default()
	data, err := io.ReadAll(io.LimitReader(r, maxConfigSize+1))
	if err != nil {
		return c, err
	}
	if len(data) > maxConfigSize {
		return c, fmt.Errorf("larger than %d bytes: not a configuration file", maxConfigSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return c, explainYAML(err, data)
	}
	if c.PackSizeMiB == 0 { // "0" means the default: Save omits it (found by FuzzParse)
		c.PackSizeMiB = Default().PackSizeMiB
	}
	if c.Compression == "" { // an explicit empty value (a YAML tag such as !000) is the default too (found by FuzzParse)
		c.Compression = Default().Compression
	}
	return c, c.Validate()
}

// explainYAML prefixes each of a decoding error's "line N: ..." messages
// with the path of the field at that line, such as sites[1].tier.
func explainYAML(err error, data []byte) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	var doc yaml.Node
	_ = yaml.Unmarshal(data, &doc)
	paths := map[int]string{}
	fieldPaths(&doc, "", paths)
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		msgs[i] = m
		var line int
		if _, serr := fmt.Sscanf(m, "line %d:", &line); serr == nil && paths[line] != "" {
			msgs[i] = paths[line] + ": " + m
		}
	}
	return errors.New(strings.Join(msgs, "; "))
}

// fieldPaths records, for each line, the path of the deepest field on it.
func fieldPaths(n *yaml.Node, prefix string, out map[int]string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			fieldPaths(c, prefix, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if prefix != "" {
				p = prefix + "." + k.Value
			}
			out[k.Line] = p
			out[v.Line] = p
			fieldPaths(v, p, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", prefix, i)
			out[c.Line] = p
			fieldPaths(c, p, out)
		}
	}
}

// Validate checks the configuration and names the offending field.
func (c *Config) Validate() error {
	switch c.Compression {
	case "", "auto", "off", "max":
	default:
		return fmt.Errorf("compression: %q is not one of auto, off, max", c.Compression)
	}
	if c.PackSizeMiB < 0 || c.PackSizeMiB > 512 {
		return fmt.Errorf("pack-size-mib: %d is outside 1..512", c.PackSizeMiB)
	}
	if c.WitnessWait != "" {
		if d, err := time.ParseDuration(c.WitnessWait); err != nil || d < MinWitnessWait || d > MaxWitnessWait {
			return fmt.Errorf("witness-wait: %q is not a duration from %s to %s (such as 30s or 2m)", c.WitnessWait, MinWitnessWait, MaxWitnessWait)
		}
	}
	if c.HomeState != "" {
		if err := ValidJurisdiction(c.HomeState); err != nil {
			return fmt.Errorf("home-state: %w", err)
		}
	}
	if c.HomeLocation != "" {
		if _, _, err := ParseLatLon(c.HomeLocation); err != nil {
			return fmt.Errorf("home-location: %w", err)
		}
	}
	seen := map[string]bool{}
	for i, s := range c.Sites {
		if err := ValidSiteName(s.Name); err != nil {
			return fmt.Errorf("sites[%d].name: %w", i, err)
		}
		if seen[s.Name] {
			return fmt.Errorf("sites[%d].name: %q is used twice", i, s.Name)
		}
		seen[s.Name] = true
		if s.URL == "" {
			return fmt.Errorf("sites[%d].url: missing", i)
		}
		if s.IsGroup() && (s.Jurisdiction == "" || s.Jurisdiction == "MULTI") {
			// a group spans its members' jurisdictions
		} else if err := ValidJurisdiction(s.Jurisdiction); err != nil {
			return fmt.Errorf("sites[%d].jurisdiction: %w", i, err)
		}
		if s.Location != "" {
			if _, _, err := ParseLatLon(s.Location); err != nil {
				return fmt.Errorf("sites[%d].location: %w", i, err)
			}
		}
		if s.RetainDays < 0 || s.RetainDays > 36500 {
			return fmt.Errorf("sites[%d].retain-days: %d is outside 0..36500", i, s.RetainDays)
		}
		if s.Tier < 0 || s.Tier > 4 {
			return fmt.Errorf("sites[%d].tier: %d is outside 1..4", i, s.Tier)
		}
	}
	return nil
}

// ParseLatLon parses "lat,lon" in degrees.
func ParseLatLon(s string) (lat, lon float64, err error) {
	parts := strings.Split(s, ",")
	if len(parts) != 2 {
		return 0, 0, fmt.Errorf("%q: use LAT,LON such as 49.61,6.13", s)
	}
	lat, err1 := strconv.ParseFloat(strings.TrimSpace(parts[0]), 64)
	lon, err2 := strconv.ParseFloat(strings.TrimSpace(parts[1]), 64)
	if err1 != nil || err2 != nil || lat < -90 || lat > 90 || lon < -180 || lon > 180 {
		return 0, 0, fmt.Errorf("%q: use LAT,LON in degrees such as 49.61,6.13", s)
	}
	return lat, lon, nil
}

// DistanceKm is the great-circle distance between two "lat,lon" points,
// or -1 if either is missing or malformed.
func DistanceKm(a, b string) float64 {
	la1, lo1, err1 := ParseLatLon(a)
	la2, lo2, err2 := ParseLatLon(b)
	if a == "" || b == "" || err1 != nil || err2 != nil {
		return -1
	}
	const r = 6371.0
	rad := math.Pi / 180
	dla, dlo := (la2-la1)*rad, (lo2-lo1)*rad
	h := math.Sin(dla/2)*math.Sin(dla/2) + math.Cos(la1*rad)*math.Cos(la2*rad)*math.Sin(dlo/2)*math.Sin(dlo/2)
	return 2 * r * math.Asin(math.Sqrt(h))
}

// ValidSiteName checks a site name.
func ValidSiteName(n string) error {
	if n == "" || len(n) > 63 || n == "home" {
		return fmt.Errorf("invalid site name %q: use 1-63 letters, digits or '-' (not \"home\")", n)
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("invalid site name %q: use letters, digits, '-' or '_'", n)
		}
	}
	return nil
}

// ValidJurisdiction checks an ISO 3166-1 alpha-2 code (upper case).
func ValidJurisdiction(cc string) error {
	if len(cc) != 2 || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z' {
		return fmt.Errorf("invalid jurisdiction %q: use an ISO 3166-1 alpha-2 code such as LU, EE or CH", cc)
	}
	return nil
}

// Home is an open home folder.
type Home struct {
	Dir    string
	Config Config
}

// DefaultDir returns EMBASSY_HOME, or the user's config directory.
func DefaultDir() (string, error) {
	if d := os.Getenv("EMBASSY_HOME"); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", hint.Wrap(fmt.Errorf("no home folder: %w", err), "pass --home DIR or set EMBASSY_HOME")
	}
	return filepath.Join(d, "embassy"), nil
}

// Exists reports whether dir holds an initialised home.
func Exists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, ConfigFile))
	return err == nil
}

// Open reads the home at dir.
func Open(dir string) (*Home, error) {
	f, err := os.Open(filepath.Join(dir, ConfigFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, hint.Wrap(fmt.Errorf("no home at %s", dir),
				"create one with 'embassy init --custodian R1 ... --threshold K', rebuild one with 'embassy recover', or point --home / EMBASSY_HOME at an existing home")
		}
		return nil, err
	}
	defer f.Close()
	c, err := Parse(f)
	if err != nil {
		return nil, hint.Wrap(fmt.Errorf("%s: %w", filepath.Join(dir, ConfigFile), err), "fix the configuration file")
	}
	if c.Home == "" {
		// An empty or truncated file (a full disk, an editor): say so,
		// rather than let the root key appear to belong elsewhere.
		return nil, hint.Wrap(fmt.Errorf("%s is empty or has no 'home:' id", filepath.Join(dir, ConfigFile)),
			"restore it from a backup; its 'home:' line is this home's id, which the root key files under "+filepath.Join(dir, "keys")+" also carry (\"home\": ...); see 'embassy help config'")
	}
	return &Home{Dir: dir, Config: c}, nil
}

// Create makes a new home folder with cfg. It refuses an existing home.
func Create(dir string, cfg Config) (*Home, error) {
	if Exists(dir) {
		return nil, hint.Wrap(fmt.Errorf("a home already exists at %s", dir), "use another --home, or remove that folder if it is no longer needed")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create home: %w", err)
	}
	h := &Home{Dir: dir, Config: cfg}
	return h, h.Save()
}

// Save writes the configuration atomically.
func (h *Home) Save() error {
	if err := h.Config.Validate(); err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.WriteString("# Digital Embassy home configuration. See 'embassy help config'.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(h.Config); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(h.Dir, ConfigFile), buf.Bytes(), 0o600)
}

// Site returns the named site's configuration.
func (h *Home) Site(name string) (*SiteConfig, int) {
	for i := range h.Config.Sites {
		if h.Config.Sites[i].Name == name {
			return &h.Config.Sites[i], i
		}
	}
	return nil, -1
}

// MetaDir is the home's mirror of the vault's key and config objects.
func (h *Home) MetaDir() string { return filepath.Join(h.Dir, "meta") }

// CacheDir is where caches live.
func (h *Home) CacheDir() string { return filepath.Join(h.Dir, "cache") }

type rootFile struct {
	Format string `json:"format"`
	Home   string `json:"home"`
	Epoch  uint32 `json:"epoch"`
	Secret string `json:"secret"`
}

func (h *Home) rootPath(epoch uint32) string {
	return filepath.Join(h.Dir, "keys", fmt.Sprintf("root-%08d.key", epoch))
}

// SaveRoot stores a root key (mode 0600, atomically).
func (h *Home) SaveRoot(homeID string, r *keys.Root) error {
	if err := os.MkdirAll(filepath.Join(h.Dir, "keys"), 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(rootFile{Format: "embassy.rootkey.v1", Home: homeID, Epoch: r.Epoch, Secret: base64.StdEncoding.EncodeToString(r.Secret[:])}, "", " ")
	return atomicfile.Write(h.rootPath(r.Epoch), append(b, '\n'), 0o600)
}

// Roots returns the epochs of the root keys this home holds, ascending.
func (h *Home) Roots() []uint32 {
	ents, _ := os.ReadDir(filepath.Join(h.Dir, "keys"))
	var out []uint32
	for _, e := range ents {
		var ep uint32
		if n, _ := fmt.Sscanf(e.Name(), "root-%08d.key", &ep); n == 1 {
			out = append(out, ep)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// LoadRoot reads the root key of epoch.
func (h *Home) LoadRoot(epoch uint32) (*keys.Root, error) {
	b, err := os.ReadFile(h.rootPath(epoch))
	if err != nil {
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("home has no root key for epoch %d: %w", epoch, err),
			"restore "+h.rootPath(epoch)+" from this home's backup, or rebuild a home from a site and the custodians in a new folder: "+hint.Recover), hint.CodeKey)
	}
	const rebuild = "restore the file from this home's backup, or rebuild a home from a site and the custodians in a new folder: " + hint.Recover
	var rf rootFile
	if err := json.Unmarshal(b, &rf); err != nil || rf.Format != "embassy.rootkey.v1" {
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("root key file %s is malformed", h.rootPath(epoch)), rebuild), hint.CodeKey)
	}
	if rf.Home != h.Config.Home {
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("root key file %s belongs to home %s, not %s", h.rootPath(epoch), rf.Home, h.Config.Home), rebuild), hint.CodeKey)
	}
	if rf.Epoch != epoch {
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("root key file %s holds the key of epoch %d", h.rootPath(epoch), rf.Epoch), rebuild), hint.CodeKey)
	}
	sec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rf.Secret))
	if err != nil {
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("root key file %s: bad secret encoding", h.rootPath(epoch)), rebuild), hint.CodeKey)
	}
	r, err := keys.RootFromSecret(rf.Epoch, sec)
	if err != nil {
		return nil, hint.WithCode(hint.Wrap(fmt.Errorf("root key file %s: %w", h.rootPath(epoch), err), rebuild), hint.CodeKey)
	}
	return r, nil
}

// DeleteRoot removes the root key of epoch (after a rotation retired it).
func (h *Home) DeleteRoot(epoch uint32) error {
	err := os.Remove(h.rootPath(epoch))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
