package repo

import (
	"context"
	"crypto/hpke"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/keys"
	"github.com/digital-embassy/embassy/internal/seal"
	"github.com/digital-embassy/embassy/internal/site"
)

const dataKeyFormat = "embassy.datakey.v1"

// DataKey is one version of a dataset's keys.
type DataKey struct {
	Version uint32
	Enc     *seal.Key // seals blobs, indexes and manifests
	IDKey   [32]byte  // keys the BLAKE3 hash that names blobs; stable across versions
	GearKey [32]byte  // keys the chunker; stable across versions

	rec *dataKeyRecord
}

// DatasetKeys are all key versions of a dataset.
type DatasetKeys struct {
	Name    string
	ID      string
	Created time.Time
	Keys    map[uint32]*DataKey
	Current uint32
}

// Key returns version v, or an error naming the problem.
func (d *DatasetKeys) Key(v uint32) (*DataKey, error) {
	k, ok := d.Keys[v]
	if !ok {
		return nil, hint.WithCode(fmt.Errorf("dataset %s has no key version %d (shredded or never issued)", d.Name, v), hint.CodeKey)
	}
	return k, nil
}

// CurrentKey returns the key new writes use.
func (d *DatasetKeys) CurrentKey() *DataKey { return d.Keys[d.Current] }

type dataKeyRecord struct {
	Format  string    `json:"format"`
	Home    string    `json:"home"`
	Dataset string    `json:"dataset"`
	ID      string    `json:"dataset_id"`
	Version uint32    `json:"version"`
	Created time.Time `json:"created"`
	Enc     []byte    `json:"enc"`
	IDKey   []byte    `json:"id_key"`
	GearKey []byte    `json:"gear_key"`
}

var datasetNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`) })

// ValidDatasetName checks a dataset name.
func ValidDatasetName(name string) error {
	if !datasetNameRE().MatchString(name) {
		return hint.WithCode(hint.Wrap(fmt.Errorf("invalid dataset name %q", name),
			"use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"), hint.CodeUsage)
	}
	return nil
}

func dataKeyHandle(dsid string, version, epoch uint32) site.Handle {
	return site.Handle{Kind: site.KindKey, Name: fmt.Sprintf("datasets/%s/v%06d.e%08d", dsid, version, epoch)}
}

func parseDataKeyName(name string) (dsid string, version, epoch uint32, ok bool) {
	parts := strings.Split(name, "/")
	if len(parts) != 3 || parts[0] != "datasets" || len(parts[1]) != 32 {
		return "", 0, 0, false
	}
	if n, err := fmt.Sscanf(parts[2], "v%06d.e%08d", &version, &epoch); err != nil || n != 2 {
		return "", 0, 0, false
	}
	return parts[1], version, epoch, dataKeyHandle(parts[1], version, epoch).Name == name
}

func dataKeyInfo(home, dsid string, version, epoch uint32) []byte {
	return fmt.Appendf(nil, "embassy.v1 datakey %s %s %d %d", home, dsid, version, epoch)
}

// Datasets returns every dataset of the home, by name: exactly those the
// home's signed state lists, with exactly the key versions it lists. Key
// records at a site that the state does not list, or that the home did not
// sign, are never used: each raises an alert naming the site.
func (r *Repo) Datasets(ctx context.Context) (map[string]*DatasetKeys, error) {
	if err := r.needRoot(); err != nil {
		return nil, err
	}
	if err := r.needState(); err != nil {
		return nil, err
	}
	st := r.curState()
	r.mu.Lock()
	defer r.mu.Unlock()
	type ref struct {
		dsid string
		ver  uint32
	}
	var refs []ref
	listed := map[ref]bool{}
	type unlistedKey struct {
		s       *Site
		h       site.Handle
		unknown bool
		dsid    string
		ver     uint32
	}
	var unlisted []unlistedKey
	var unwrapped []Unwrap
	if r.opts.OnUnwrap != nil {
		defer func() {
			if len(unwrapped) > 0 {
				r.opts.OnUnwrap(ctx, unwrapped)
			}
		}()
	}
	err := r.listUnionSites(ctx, site.KindKey, func(s *Site, fi site.Info) error {
		dsid, v, e, ok := parseDataKeyName(fi.Handle.Name)
		if !ok || e != r.current {
			return nil
		}
		rf := ref{dsid, v}
		if st != nil {
			d := st.Dataset(dsid)
			if d == nil || !d.HasVersion(v) {
				unlisted = append(unlisted, unlistedKey{s, fi.Handle, d == nil, dsid, v})
				return nil
			}
		}
		if !listed[rf] {
			listed[rf] = true
			refs = append(refs, rf)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, u := range unlisted {
		if i >= maxClassify {
			r.alert(ctx, Alert{Site: u.s.Name, Attack: AttackMintedKey, Object: u.h.String(), Detail: "one of many key records the home's signed state does not list; ignored"})
			continue
		}
		// Signed by the current epoch: the home's own record from a
		// dataset creation that was interrupted before it committed.
		// Ignored either way; only a record the home did not sign is an
		// attack.
		if b, err := ReadObject(ctx, u.s.Backend, u.h); err == nil {
			if _, err := openDataKey(r.kem, r.home, u.dsid, u.ver, r.current, r.epochs[r.current].sign, false, b); err == nil {
				unwrapped = append(unwrapped, Unwrap{Dataset: u.dsid, Version: u.ver, Epoch: r.current, Site: u.s.Name})
				r.log.InfoContext(ctx, "uncommitted dataset key record ignored (an interrupted dataset creation)", "site", u.s.Name, "object", u.h.String())
				continue
			}
		}
		attack := AttackMintedKey
		if u.unknown {
			attack = AttackUnknownDataset
		}
		r.alert(ctx, Alert{Site: u.s.Name, Attack: attack, Object: u.h.String(),
			Detail: "a dataset key record the home's signed state does not list and the home did not sign; it is ignored and never used"})
	}
	if st != nil {
		// Every version the state lists must be readable; a site cannot
		// hide one without it being noticed.
		for _, d := range st.Datasets {
			for _, v := range d.Versions {
				if rf := (ref{d.ID, v}); !listed[rf] {
					listed[rf] = true
					refs = append(refs, rf)
				}
			}
		}
	}
	sort.Slice(refs, func(i, j int) bool {
		return refs[i].dsid < refs[j].dsid || refs[i].dsid == refs[j].dsid && refs[i].ver < refs[j].ver
	})
	for _, rf := range refs {
		d := r.datasets[rf.dsid]
		if d != nil && d.Keys[rf.ver] != nil {
			continue
		}
		rec, from, err := r.loadDataKeyFrom(ctx, rf.dsid, rf.ver)
		if err == nil {
			unwrapped = append(unwrapped, Unwrap{Dataset: rf.dsid, Version: rf.ver, Epoch: r.current, Site: from, Used: true})
		}
		if err != nil {
			if st == nil {
				return nil, err
			}
			return nil, hint.WithCode(hint.Wrap(err, "no site holds an authentic copy of a key the home's signed state lists; run 'embassy verify' and 'embassy repair'"), hint.CodeKey)
		}
		if sd := st.Dataset(rf.dsid); sd != nil && sd.Name != rec.Dataset {
			return nil, hint.WithCode(fmt.Errorf("dataset %s key version %d names %q but the signed state names %q: %w", rf.dsid, rf.ver, rec.Dataset, sd.Name, ErrSignature), hint.CodeKey)
		}
		if d == nil {
			d = &DatasetKeys{Name: rec.Dataset, ID: rec.ID, Created: rec.Created, Keys: map[uint32]*DataKey{}}
			r.datasets[rf.dsid] = d
		}
		k, err := rec.key()
		if err != nil {
			return nil, err
		}
		d.Keys[rf.ver] = k
		d.Current = max(d.Current, rf.ver)
	}
	out := make(map[string]*DatasetKeys, len(r.datasets))
	for _, d := range r.datasets {
		if st != nil && st.Dataset(d.ID) == nil {
			continue // shredded or forgotten since it was loaded
		}
		if prev, dup := out[d.Name]; dup {
			return nil, fmt.Errorf("two datasets are named %s (%s and %s): %w", d.Name, prev.ID, d.ID, errFormat)
		}
		out[d.Name] = d
	}
	return out, nil
}

// maxClassify bounds how many unlisted objects per listing the home reads
// to tell its own interrupted writes from planted ones: a host cannot make
// every command read without bound.
const maxClassify = 16

// curState returns the freshest signed state (immutable), or nil.
func (r *Repo) curState() *StateBody {
	r.stateMu.Lock()
	defer r.stateMu.Unlock()
	return r.state
}

func (rec *dataKeyRecord) key() (*DataKey, error) {
	if len(rec.IDKey) != 32 || len(rec.GearKey) != 32 {
		return nil, fmt.Errorf("dataset key record for %s: %w", rec.Dataset, errFormat)
	}
	enc, err := seal.NewKey(rec.Enc)
	if err != nil {
		return nil, err
	}
	k := &DataKey{Version: rec.Version, Enc: enc, rec: rec}
	copy(k.IDKey[:], rec.IDKey)
	copy(k.GearKey[:], rec.GearKey)
	return k, nil
}

const dataKeySigCtx = "embassy.v1 datakey"

// openDataKey unwraps and authenticates one stored dataset key record of
// epoch: the plaintext must be a signed envelope (docs/FORMAT.md §5) made
// by that epoch's signing key, unless legacy records are allowed.
func openDataKey(kem hpke.PrivateKey, home, dsid string, ver, epoch uint32, signKey []byte, legacy bool, b []byte) (*dataKeyRecord, error) {
	plain, err := keys.Unwrap(kem, dataKeyInfo(home, dsid, ver, epoch), b)
	if err != nil {
		return nil, fmt.Errorf("unwrap: %w", err)
	}
	return decodeDataKey(plain, home, dsid, ver, epoch, signKey, legacy)
}

// decodeDataKey checks an unwrapped dataset key record (docs/FORMAT.md §5).
func decodeDataKey(plain []byte, home, dsid string, ver, epoch uint32, signKey []byte, legacy bool) (*dataKeyRecord, error) {
	if len(plain) > maxKeySize {
		return nil, fmt.Errorf("dataset key record of %d bytes: %w", len(plain), errFormat)
	}
	var env Signed
	if err := json.Unmarshal(plain, &env); err != nil {
		return nil, fmt.Errorf("%v: %w", err, errFormat)
	}
	body := []byte(env.Body)
	if len(body) == 0 {
		if !legacy {
			return nil, fmt.Errorf("dataset key record is not signed by the home (minted by the site, or written before 'embassy upgrade'): %w", ErrSignature)
		}
		body = plain
	} else {
		sig, err := unb64(env.Sig)
		if err != nil || env.Epoch != epoch || !keys.Verify(signKey, dataKeySigCtx, body, sig) {
			return nil, fmt.Errorf("dataset key record is not signed by the home's key of epoch %d: %w", epoch, ErrSignature)
		}
	}
	var rec dataKeyRecord
	if err := json.Unmarshal(body, &rec); err != nil {
		return nil, fmt.Errorf("%v: %w", err, errFormat)
	}
	if rec.Format != dataKeyFormat || rec.Home != home || rec.ID != dsid || rec.Version != ver {
		return nil, fmt.Errorf("dataset key record does not match its name: %w", errFormat)
	}
	if len(rec.Enc) != 32 || len(rec.IDKey) != 32 || len(rec.GearKey) != 32 {
		return nil, fmt.Errorf("dataset key record has keys of the wrong size: %w", errFormat)
	}
	return &rec, nil
}

// encodeDataKey is the plaintext a writer wraps: the signed envelope.
func encodeDataKey(rec *dataKeyRecord, epoch uint32, signer []byte) ([]byte, error) {
	body, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	return json.Marshal(Signed{Body: body, Epoch: epoch, Sig: b64(keys.Sign(signer, dataKeySigCtx, body))})
}

// loadDataKeyFrom reads the record of dataset dsid's key version ver and
// returns it with the site it was read from.
func (r *Repo) loadDataKeyFrom(ctx context.Context, dsid string, ver uint32) (*dataKeyRecord, string, error) {
	var rec *dataKeyRecord
	var from string
	h := dataKeyHandle(dsid, ver, r.current)
	legacy := r.legacy && r.curState() == nil
	err := r.readFirst(ctx, h, 0, 0, func(s *Site, b []byte) error {
		var err error
		rec, err = openDataKey(r.kem, r.home, dsid, ver, r.current, r.epochs[r.current].sign, legacy, b)
		if err == nil {
			from = s.Name
		}
		if err != nil && errors.Is(err, ErrSignature) {
			r.alert(ctx, Alert{Site: s.Name, Attack: AttackMintedKey, Object: h.String(), Detail: err.Error()})
		}
		return err
	})
	if err != nil {
		return nil, "", hint.WithCode(fmt.Errorf("dataset %s key version %d: %w", dsid, ver, err), hint.CodeKey)
	}
	return rec, from, nil
}

// Dataset returns the named dataset's keys, or an error if it does not exist.
func (r *Repo) Dataset(ctx context.Context, name string) (*DatasetKeys, error) {
	all, err := r.Datasets(ctx)
	if err != nil {
		return nil, err
	}
	d, ok := all[name]
	if !ok {
		names := make([]string, 0, len(all))
		for n := range all {
			names = append(names, n)
		}
		sort.Strings(names)
		h := "no datasets yet; create one with 'embassy snapshot NAME PATH'"
		if len(names) > 0 {
			h = "known datasets: " + strings.Join(names, ", ")
		}
		return nil, hint.Wrap(fmt.Errorf("dataset %q not found", name), h)
	}
	return d, nil
}

// EnsureDataset returns the named dataset, creating it with fresh keys if needed.
func (r *Repo) EnsureDataset(ctx context.Context, name string) (*DatasetKeys, bool, error) {
	if err := ValidDatasetName(name); err != nil {
		return nil, false, err
	}
	all, err := r.Datasets(ctx)
	if err != nil {
		return nil, false, err
	}
	if d, ok := all[name]; ok {
		return d, false, nil
	}
	rec := &dataKeyRecord{Format: dataKeyFormat, Home: r.home, Dataset: name, ID: randomHex(16), Version: 1,
		Created: r.now(), Enc: randBytes(32), IDKey: randBytes(32), GearKey: randBytes(32)}
	if err := r.putDataKey(ctx, rec, r.current, r.root.Signer()); err != nil {
		return nil, false, err
	}
	err = r.updateState(ctx, func(st *StateBody) error {
		for _, d := range st.Datasets {
			if d.Name == name {
				return hint.WithCode(hint.Wrap(fmt.Errorf("dataset %s was created by another command at the same time", name), "run the command again"), hint.CodeLocked)
			}
		}
		st.Datasets = append(st.Datasets, StateDataset{ID: rec.ID, Name: name, Versions: []uint32{1}})
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	k, err := rec.key()
	if err != nil {
		return nil, false, err
	}
	d := &DatasetKeys{Name: name, ID: rec.ID, Created: rec.Created, Keys: map[uint32]*DataKey{1: k}, Current: 1}
	r.mu.Lock()
	r.datasets[rec.ID] = d
	r.mu.Unlock()
	return d, true, nil
}

func (r *Repo) putDataKey(ctx context.Context, rec *dataKeyRecord, epoch uint32, signer []byte) error {
	plain, err := encodeDataKey(rec, epoch, signer)
	if err != nil {
		return err
	}
	ep := r.epochs[epoch]
	if ep == nil {
		return fmt.Errorf("no key epoch %d", epoch)
	}
	wrapped, err := keys.Wrap(ep.kem, dataKeyInfo(r.home, rec.ID, rec.Version, epoch), plain)
	if err != nil {
		return err
	}
	return r.PutAll(ctx, dataKeyHandle(rec.ID, rec.Version, epoch), wrapped)
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

// Material returns copies of the key version's raw keys, for a key broker
// that releases them to an attested workload (wrapped to its key). The
// version has already been authenticated against the signed vault state.
func (k *DataKey) Material() (enc, idKey, gearKey []byte) {
	if k.rec == nil {
		return nil, append([]byte(nil), k.IDKey[:]...), append([]byte(nil), k.GearKey[:]...)
	}
	return append([]byte(nil), k.rec.Enc...), append([]byte(nil), k.rec.IDKey...), append([]byte(nil), k.rec.GearKey...)
}
