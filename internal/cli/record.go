package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

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
//	witness/home/      the home's Ed25519 witness (key, state, alerts)
//	witness/home-pq/   the home's ML-DSA-44 witness
//	alerts.jsonl       witness refusals seen by the log
//
// Witness URLs whose host ends in .witness.invalid are the home's own
// witnesses, served in-process while a command appends.
const localWitnessSuffix = ".witness.invalid"

type homeLog struct {
	dir    string
	signer note.Signer
	policy *tlog.Policy
	local  map[string]http.Handler
}

func logDir(h *home.Home) string { return filepath.Join(h.Dir, "log") }

// setupLog prepares the home's log on first use and loads its keys, policy
// and in-process witnesses.
func (e *env) setupLog(h *home.Home) (*homeLog, error) {
	dir := logDir(h)
	origin := tlog.Origin(h.Config.Home)
	signer, vkey, err := tlog.LoadOrCreateKey(dir, origin)
	if err != nil {
		return nil, fmt.Errorf("log key: %w", err)
	}
	hl := &homeLog{dir: dir, signer: signer, local: map[string]http.Handler{}}
	keys := map[string]string{}
	for _, w := range []struct{ name, alg string }{{"home", witness.Ed25519}, {"home-pq", witness.MLDSA44}} {
		wdir := filepath.Join(dir, "witness", w.name)
		s, wv, err := witness.LoadOrCreateKey(wdir, w.name+"-witness/"+shortID(h.Config.Home), w.alg)
		if err != nil {
			return nil, fmt.Errorf("home witness key: %w", err)
		}
		keys[w.name] = wv
		wit, err := witness.New(witness.Config{Dir: wdir, Signer: s, Logs: []string{vkey}, Logger: e.log})
		if err != nil {
			return nil, err
		}
		hl.local[w.name+localWitnessSuffix] = wit.Handler()
	}
	pp := filepath.Join(dir, tlog.PolicyFile)
	text, err := os.ReadFile(pp)
	if errors.Is(err, fs.ErrNotExist) {
		text = []byte(fmt.Sprintf(`# C2SP tlog-policy for this home's transparency log; see docs/formats/tlog.md.
# Hosts ending in %s are the home's own witnesses, served in-process.
# Add a host site's witness with 'embassy witness add NAME VKEY URL'.
log %s
witness home %s http://home%s
witness home-pq %s http://home-pq%s
group required all home home-pq
quorum required
`, localWitnessSuffix, vkey, keys["home"], localWitnessSuffix, keys["home-pq"], localWitnessSuffix))
		if err := tlog.WriteFileAtomic(pp, text, 0o644); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	if hl.policy, err = tlog.ParsePolicy(text); err != nil {
		return nil, hint.Wrap(fmt.Errorf("%s: %w", pp, err), "fix the policy file (C2SP tlog-policy)")
	}
	return hl, nil
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

// openLog opens the home's log for appending; close it with l.Close(e.ctx).
func (e *env) openLog(h *home.Home) (*tlog.Log, *homeLog, error) {
	hl, err := e.setupLog(h)
	if err != nil {
		return nil, nil, err
	}
	st, err := tlog.LoadStorage(hl.dir) // <home>/log/storage: S3 + MySQL instead of <home>/log/tiles
	if err != nil {
		return nil, nil, err
	}
	l, err := tlog.Open(e.ctx, hl.dir, tlog.Options{Signer: hl.signer, Policy: hl.policy, Local: hl.local, Logger: e.log, AWS: st,
		Transport: witnessTransport(h)}) // host witnesses over mutual TLS (cmd_witness.go)
	if err != nil {
		return nil, nil, err
	}
	return l, hl, nil
}

// readLog returns a reader of the home's log.
func (e *env) readLog(h *home.Home) (*tlog.Reader, *homeLog, error) {
	hl, err := e.setupLog(h)
	if err != nil {
		return nil, nil, err
	}
	st, err := tlog.LoadStorage(hl.dir)
	if err != nil {
		return nil, nil, err
	}
	if st != nil {
		r, err := st.Reader(hl.policy)
		return r, hl, err
	}
	return tlog.NewReader(hl.dir, hl.policy), hl, nil
}

// record appends ent to the home's transparency log (creating the log on
// first use) and returns once a checkpoint covering it is cosigned by the
// witness quorum. Version, time, home and actor are filled in if empty.
func (e *env) record(h *home.Home, ent tlog.Entry) error {
	_, _, err := e.recordIndex(h, ent)
	return err
}

// fillEntry sets the defaults record applies to every entry.
func fillEntry(h *home.Home, ent *tlog.Entry) {
	if ent.V == 0 {
		ent.V = tlog.Version
	}
	if ent.Time.IsZero() {
		ent.Time = time.Now().UTC()
	}
	if ent.Home == "" {
		ent.Home = h.Config.Home
	}
	if ent.Actor == "" {
		ent.Actor = "home"
	}
}

// recordAll appends several entries with one open of the log, pipelined,
// so that they share witnessed checkpoints instead of waiting for one each.
func (e *env) recordAll(h *home.Home, ents []tlog.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	l, _, err := e.openLog(h)
	if err != nil {
		return err
	}
	var waits []func() (uint64, []byte, error)
	for i := range ents {
		fillEntry(h, &ents[i])
		wait, aerr := l.AppendAsync(e.ctx, ents[i])
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
	if cerr := l.Close(e.ctx); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return hint.Wrap(fmt.Errorf("transparency log: %w", err),
			"check that the witnesses in "+filepath.Join(logDir(h), tlog.PolicyFile)+" are reachable; see 'embassy audit check'")
	}
	return nil
}

func (e *env) recordIndex(h *home.Home, ent tlog.Entry) (uint64, []byte, error) {
	fillEntry(h, &ent)
	l, _, err := e.openLog(h)
	if err != nil {
		return 0, nil, err
	}
	idx, cp, err := l.Append(e.ctx, ent)
	if cerr := l.Close(e.ctx); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return idx, nil, hint.Wrap(fmt.Errorf("transparency log: %w", err),
			"check that the witnesses in "+filepath.Join(logDir(h), tlog.PolicyFile)+" are reachable; see 'embassy audit check'")
	}
	return idx, cp, nil
}

// parseWhen accepts RFC 3339, a date (2026-11-25) or a duration ago (24h, 7d).
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.UTC); err == nil {
		return t, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := time.ParseDuration(d + "h"); err == nil {
			return now.Add(-24 * n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, usagef("time %q: use RFC 3339 (2026-11-25T10:00:00Z), a date (2026-11-25) or a duration ago (24h, 7d)", s)
}

// audit records ent in the home's transparency log after an operation
// succeeded. A failure to record is reported (exit code 3) but does not undo
// the operation, which has already happened.
func (e *env) audit(h *home.Home, ent tlog.Entry) {
	e.auditAll(h, []tlog.Entry{ent})
}

// auditAll is audit for several entries of one operation.
func (e *env) auditAll(h *home.Home, ents []tlog.Entry) {
	if err := e.recordAll(h, ents); err != nil {
		e.warnf("operation done but not recorded in the transparency log: %v", err)
	}
}

// parseRange parses a --since/--until pair with parseWhen.
func parseRange(since, until string, now time.Time) (from, to time.Time, err error) {
	if from, err = parseWhen(since, now); err != nil {
		return
	}
	to, err = parseWhen(until, now)
	return
}
