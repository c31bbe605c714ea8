package vault

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/mod/sumdb/note"

	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/hint"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/tlog"
	"github.com/digital-embassy/embassy/internal/witness"
)

// The home's transparency log lives in <home>/log:
//
//	log.key, log.pub   the log's Ed25519 signed-note key (0600) and verifier key
//	policy             C2SP tlog-policy: log key, witnesses, quorum
//	tiles/             tessera POSIX tiles, entry bundles and the checkpoint
//	storage            optional: S3 + MySQL instead of tiles/
//	witness/home/      the home's Ed25519 witness (key, state, alerts)
//	witness/home-pq/   the home's ML-DSA-44 witness
//	alerts.jsonl       witness refusals seen by the log
//
// Witness URLs whose host ends in .witness.invalid are the home's own
// witnesses, served in-process while a command appends.
const LocalWitnessSuffix = ".witness.invalid"

// LogDir is the folder of the home's transparency log.
func LogDir(h *home.Home) string { return filepath.Join(h.Dir, "log") }

// Recorder is the vault's one writer of the home's transparency log. Its
// keys, policy and in-process witnesses are set up once per vault; every
// entry goes through Append (or Audit), which fills in version, time (the
// vault's clock), home and actor.
type Recorder struct {
	v *Vault

	mu     sync.Mutex
	ready  bool
	Dir    string
	Signer note.Signer
	Policy *tlog.Policy
	local  map[string]http.Handler

	pendMu  sync.Mutex
	run     string       // this command's id in its key.unwrap entries (pending.go)
	pending []tlog.Entry // key.unwrap entries the journal could not take, for the next Append or Flush (custody.go, pending.go)
	noted   int          // how many of them Flush last said were not recorded (said once: Close and the CLI both flush)
}

// Recorder returns the vault's recorder.
func (v *Vault) Recorder() *Recorder {
	v.recOnce.Do(func() { v.rec = &Recorder{v: v, Dir: LogDir(v.Home)} })
	return v.rec
}

// Setup prepares the home's log on first use and loads its keys, policy and
// in-process witnesses (once per vault).
func (rc *Recorder) Setup() error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.ready {
		return nil
	}
	h := rc.v.Home
	origin := tlog.Origin(h.Config.Home)
	signer, vkey, err := tlog.LoadOrCreateKey(rc.Dir, origin)
	if err != nil {
		return hint.Wrap(fmt.Errorf("log key: %w", err), "the home must be writable by this user: check its permissions and free space")
	}
	local := map[string]http.Handler{}
	keys := map[string]string{}
	for _, w := range []struct{ name, alg string }{{"home", witness.Ed25519}, {"home-pq", witness.MLDSA44}} {
		wdir := filepath.Join(rc.Dir, "witness", w.name)
		s, wv, err := witness.LoadOrCreateKey(wdir, w.name+"-witness/"+shortID(h.Config.Home), w.alg)
		if err != nil {
			return fmt.Errorf("home witness key: %w", err)
		}
		keys[w.name] = wv
		wit, err := witness.New(witness.Config{Dir: wdir, Signer: s, Logs: []string{vkey}, Logger: rc.v.log})
		if err != nil {
			return err
		}
		local[w.name+LocalWitnessSuffix] = wit.Handler()
	}
	pp := filepath.Join(rc.Dir, tlog.PolicyFile)
	text, err := os.ReadFile(pp)
	if errors.Is(err, fs.ErrNotExist) {
		text = fmt.Appendf(nil, `# C2SP tlog-policy for this home's transparency log; see docs/formats/tlog.md.
# Hosts ending in %s are the home's own witnesses, served in-process.
# Add a host site's witness with 'embassy witness add NAME VKEY URL'.
log %s
witness home %s http://home%s
witness home-pq %s http://home-pq%s
group required all home home-pq
quorum required
`, LocalWitnessSuffix, vkey, keys["home"], LocalWitnessSuffix, keys["home-pq"], LocalWitnessSuffix)
		if err := atomicfile.Write(pp, text, 0o644); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	pol, err := tlog.ParsePolicy(text)
	if err != nil {
		return hint.Wrap(fmt.Errorf("%s: %w", pp, err), "fix the policy file (C2SP tlog-policy)")
	}
	rc.Signer, rc.Policy, rc.local, rc.ready = signer, pol, local, true
	return nil
}

func shortID(id string) string {
	if len(id) > 16 {
		return id[:16]
	}
	if id == "" {
		return "unnamed"
	}
	return id
}

// Open opens the home's log for appending; close it with l.Close(ctx).
func (rc *Recorder) Open(ctx context.Context) (*tlog.Log, error) {
	return rc.open(ctx, 0)
}

// open opens the log for a batch of n entries (0: unknown): the first
// batch is sequenced as soon as n entries are added, not after the
// batching delay.
func (rc *Recorder) open(ctx context.Context, n int) (*tlog.Log, error) {
	if err := rc.Setup(); err != nil {
		return nil, err
	}
	st, err := tlog.LoadStorage(rc.Dir)
	if err != nil {
		return nil, err
	}
	if st == nil {
		// tessera's POSIX appender panics on a folder it cannot write:
		// find out first, and say so
		if err := writable(filepath.Join(rc.Dir, "tiles")); err != nil {
			return nil, hint.Wrap(fmt.Errorf("transparency log %s is not writable: %w", rc.Dir, err),
				"the home must be writable by this user: check its permissions, its free space and that it is not mounted read-only")
		}
	}
	return tlog.Open(ctx, rc.Dir, tlog.Options{Signer: rc.Signer, Policy: rc.Policy, Local: rc.local, Logger: rc.v.log, AWS: st,
		Transport: rc.v.wtr, PublishTimeout: rc.v.Home.Config.WitnessWaitDuration(), BatchMaxSize: uint(min(n, 1024))})
}

// Reader returns a reader of the home's log.
func (rc *Recorder) Reader() (*tlog.Reader, error) {
	if err := rc.Setup(); err != nil {
		return nil, err
	}
	st, err := tlog.LoadStorage(rc.Dir)
	if err != nil {
		return nil, err
	}
	if st != nil {
		return st.Reader(rc.Policy)
	}
	return tlog.NewReader(rc.Dir, rc.Policy), nil
}

// Fill sets the defaults every entry gets.
func (rc *Recorder) Fill(ent *tlog.Entry) {
	if ent.V == 0 {
		ent.V = tlog.Version
	}
	if ent.Time.IsZero() {
		ent.Time = rc.v.Now()
	}
	if ent.Home == "" {
		ent.Home = rc.v.Home.Config.Home
	}
	if ent.Actor == "" {
		ent.Actor = rc.v.actor
	}
}

func (rc *Recorder) wrap(err error) error {
	if errors.Is(err, tlog.ErrStorageFull) {
		return hint.Wrap(fmt.Errorf("transparency log: %w", err),
			"free space on the disk holding "+rc.Dir+" and run the command again")
	}
	return hint.Wrap(fmt.Errorf("transparency log: %w", err),
		"check that the witnesses in "+filepath.Join(rc.Dir, tlog.PolicyFile)+" are reachable; see 'embassy audit check'")
}

// Append appends entries with one open of the log, pipelined so that they
// share witnessed checkpoints, and returns once a checkpoint covering them
// is cosigned by the witness quorum.
func (rc *Recorder) Append(ctx context.Context, ents ...tlog.Entry) (err error) {
	jents, done := rc.takeJournal()
	pend := rc.takePending()
	if len(ents) == 0 && len(pend) == 0 && len(jents) == 0 {
		done(false)
		return nil
	}
	if len(pend) > 0 || len(jents) > 0 {
		ents = append(append(jents, pend...), ents...)
	}
	defer func() {
		done(err == nil)
		if err != nil {
			rc.putBack(pend)
		}
	}()
	l, oerr := rc.open(ctx, len(ents))
	if oerr != nil {
		return rc.wrap(oerr)
	}
	var waits []func() (uint64, []byte, error)
	for i := range ents {
		rc.Fill(&ents[i])
		wait, aerr := l.AppendAsync(ctx, ents[i])
		if aerr != nil {
			err = aerr
			break
		}
		waits = append(waits, wait)
	}
	for _, wait := range waits {
		if _, _, werr := wait(); werr != nil && err == nil {
			err = werr
		}
	}
	if cerr := l.Close(ctx); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return rc.wrap(err)
	}
	return nil
}

// AppendIndex appends one entry and returns its index and the cosigned
// checkpoint covering it.
func (rc *Recorder) AppendIndex(ctx context.Context, ent tlog.Entry) (uint64, []byte, error) {
	rc.Fill(&ent)
	l, err := rc.open(ctx, 1)
	if err != nil {
		return 0, nil, rc.wrap(err)
	}
	idx, cp, err := l.Append(ctx, ent)
	if cerr := l.Close(ctx); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return idx, nil, rc.wrap(err)
	}
	return idx, cp, nil
}

// Audit records entries after an operation succeeded. A failure to record
// is reported as a warning but does not undo the operation, which has
// already happened.
func (rc *Recorder) Audit(ctx context.Context, ents ...tlog.Entry) {
	if err := rc.Append(ctx, ents...); err != nil {
		rc.v.Warnf("operation done but not recorded in the transparency log: %v", err)
	}
}

// writable checks that dir exists (or can be created) and takes a file.
func writable(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return err
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name)
}
