package broker

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// Files of the broker's state folder (<home>/broker). docs/BROKER.md
// specifies each.
const (
	ReleaseFile   = "release.yaml"   // release rules
	WorkloadsFile = "workloads.yaml" // pinned workload identities
	RevokedFile   = "revoked.yaml"   // revocations
	refsDir       = "refs"           // refs/pending/*.json, refs/approved/*.json
)

// Workload is a pinned workload identity: the TEE's signing identity (a TPM
// attestation key fingerprint, a chip id...) and the site it runs at.
type Workload struct {
	Name     string `yaml:"name" json:"name"`
	Identity string `yaml:"identity" json:"identity"`
	Site     string `yaml:"site" json:"site"`
}

// Revoked lists what may no longer receive keys. A measurement is
// "name=value" or a bare value (revoked under any name).
type Revoked struct {
	Measurements []string `yaml:"measurements,omitempty" json:"measurements,omitempty"`
	Sites        []string `yaml:"sites,omitempty" json:"sites,omitempty"`
	Workloads    []string `yaml:"workloads,omitempty" json:"workloads,omitempty"` // names or identities
	Datasets     []string `yaml:"datasets,omitempty" json:"datasets,omitempty"`
}

// State is one consistent reading of the state folder.
type State struct {
	Rules     []Rule
	Workloads []Workload
	Revoked   Revoked
	Approved  map[string]*SignedRefs
	Pending   map[string]*SignedRefs
	policy    *compiledPolicy
}

// Store reads and writes the state folder. Load re-reads it whenever a
// file changed, so that an approval or a revocation takes effect on the
// next request without a restart.
type Store struct {
	Dir     string
	Trusted []ed25519.PublicKey // publishers of reference values

	mu    sync.Mutex
	stamp string
	cur   *State
}

// NewStore returns the store at dir, creating its folders.
func NewStore(dir string, trusted []ed25519.PublicKey) (*Store, error) {
	for _, d := range []string{dir, filepath.Join(dir, refsDir, "pending"), filepath.Join(dir, refsDir, "approved")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	return &Store{Dir: dir, Trusted: trusted}, nil
}

// stampOf fingerprints the folder's files by name, size and mtime.
func (s *Store) stampOf() string {
	var b strings.Builder
	for _, p := range []string{ReleaseFile, WorkloadsFile, RevokedFile} {
		if fi, err := os.Stat(filepath.Join(s.Dir, p)); err == nil {
			fmt.Fprintf(&b, "%s %d %d;", p, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	for _, sub := range []string{"pending", "approved"} {
		d := filepath.Join(s.Dir, refsDir, sub)
		fi, err := os.Stat(d)
		if err == nil {
			fmt.Fprintf(&b, "%s %d;", sub, fi.ModTime().UnixNano())
		}
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if i, err := e.Info(); err == nil {
				fmt.Fprintf(&b, "%s/%s %d %d;", sub, e.Name(), i.Size(), i.ModTime().UnixNano())
			}
		}
	}
	return b.String()
}

// Load returns the current state.
func (s *Store) Load() (*State, error) {
	stamp := s.stampOf()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil && stamp == s.stamp {
		return s.cur, nil
	}
	st := &State{Approved: map[string]*SignedRefs{}, Pending: map[string]*SignedRefs{}}
	var rf struct {
		Rules []Rule `yaml:"rules"`
	}
	if err := readYAML(filepath.Join(s.Dir, ReleaseFile), &rf); err != nil {
		return nil, err
	}
	st.Rules = rf.Rules
	var wf struct {
		Workloads []Workload `yaml:"workloads"`
	}
	if err := readYAML(filepath.Join(s.Dir, WorkloadsFile), &wf); err != nil {
		return nil, err
	}
	st.Workloads = wf.Workloads
	if err := readYAML(filepath.Join(s.Dir, RevokedFile), &st.Revoked); err != nil {
		return nil, err
	}
	for sub, m := range map[string]map[string]*SignedRefs{"pending": st.Pending, "approved": st.Approved} {
		d := filepath.Join(s.Dir, refsDir, sub)
		ents, err := os.ReadDir(d)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".json") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(d, e.Name()))
			if err != nil {
				return nil, err
			}
			r, err := ParseRefs(b, s.Trusted)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", filepath.Join(d, e.Name()), err)
			}
			if r.Name+".json" != e.Name() {
				return nil, fmt.Errorf("%s: holds reference values named %q", filepath.Join(d, e.Name()), r.Name)
			}
			m[r.Name] = r
		}
	}
	if err := st.validate(); err != nil {
		return nil, err
	}
	cp, err := compilePolicy(st)
	if err != nil {
		return nil, err
	}
	st.policy = cp
	s.cur, s.stamp = st, stamp
	return st, nil
}

func (st *State) validate() error {
	seen := map[string]bool{}
	for i, w := range st.Workloads {
		if !nameRE().MatchString(w.Name) || !measureValRE().MatchString(w.Identity) || w.Site == "" {
			return fmt.Errorf("%s: workload %d: needs a name, a hex identity and a site", WorkloadsFile, i+1)
		}
		if seen[w.Identity] {
			return fmt.Errorf("%s: identity %s is pinned twice", WorkloadsFile, short(w.Identity))
		}
		seen[w.Identity] = true
	}
	for i := range st.Rules {
		if err := st.Rules[i].validate(); err != nil {
			return fmt.Errorf("%s: %w", ReleaseFile, err)
		}
	}
	return nil
}

func readYAML(path string, v any) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// writeYAML replaces path atomically.
func writeYAML(path string, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	return writeAtomic(path, b)
}

func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// AddRefs verifies a signed reference-value file and stages it for approval.
func (s *Store) AddRefs(b []byte) (*SignedRefs, error) {
	r, err := ParseRefs(b, s.Trusted)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(s.Dir, refsDir, "approved", r.Name+".json")); err == nil {
		return nil, fmt.Errorf("reference values %s are already approved: publish new values under a new name", r.Name)
	}
	return r, writeAtomic(filepath.Join(s.Dir, refsDir, "pending", r.Name+".json"), b)
}

// ApproveRefs moves staged reference values to the approved set.
func (s *Store) ApproveRefs(name string) (*SignedRefs, error) {
	if !nameRE().MatchString(name) {
		return nil, fmt.Errorf("reference values name %q is not valid", name)
	}
	src := filepath.Join(s.Dir, refsDir, "pending", name+".json")
	b, err := os.ReadFile(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no pending reference values named %s: stage them with 'embassy broker refs add FILE'", name)
	}
	if err != nil {
		return nil, err
	}
	r, err := ParseRefs(b, s.Trusted)
	if err != nil {
		return nil, err
	}
	if err := os.Rename(src, filepath.Join(s.Dir, refsDir, "approved", name+".json")); err != nil {
		return nil, err
	}
	return r, nil
}

// AddWorkload pins a workload identity to a site.
func (s *Store) AddWorkload(w Workload) error {
	st, err := s.Load()
	if err != nil {
		return err
	}
	ws := append([]Workload(nil), st.Workloads...)
	for _, o := range ws {
		if o.Name == w.Name || o.Identity == w.Identity {
			return fmt.Errorf("workload %s (identity %s) is already pinned", o.Name, short(o.Identity))
		}
	}
	ws = append(ws, w)
	n := &State{Workloads: ws}
	if err := n.validate(); err != nil {
		return err
	}
	return writeYAML(filepath.Join(s.Dir, WorkloadsFile), map[string]any{"workloads": ws})
}

// Revoke adds one value to a revocation list: kind is measurement, site,
// workload or dataset.
func (s *Store) Revoke(kind, value string) error {
	st, err := s.Load()
	if err != nil {
		return err
	}
	r := st.Revoked
	var list *[]string
	switch kind {
	case "measurement":
		list = &r.Measurements
	case "site":
		list = &r.Sites
	case "workload":
		list = &r.Workloads
	case "dataset":
		list = &r.Datasets
	default:
		return fmt.Errorf("revoke %q: want measurement, site, workload or dataset", kind)
	}
	if value == "" || !printable(value) || strings.ContainsAny(value, "\"\\") {
		return fmt.Errorf("revoke %s: value %q is not valid", kind, value)
	}
	for _, v := range *list {
		if v == value {
			return nil
		}
	}
	*list = append(append([]string(nil), *list...), value)
	sort.Strings(*list)
	return writeYAML(filepath.Join(s.Dir, RevokedFile), r)
}
