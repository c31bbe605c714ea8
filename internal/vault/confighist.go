package vault

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/digital-embassy/embassy/internal/atomicfile"
	"github.com/digital-embassy/embassy/internal/home"
	"github.com/digital-embassy/embassy/internal/policy"
	"github.com/digital-embassy/embassy/internal/protect"
	"github.com/digital-embassy/embassy/internal/tlog"
)

type policyTags = policy.DatasetTags

// EvidenceDir holds the home's copies of what its audit bundles carry
// besides the log: every configuration version logged (config/SHA256)
// and the signed drill reports (drills/).
func EvidenceDir(h *home.Home) string { return filepath.Join(h.Dir, "evidence") }

// ConfigVersionPath is where the content of a logged configuration
// version is kept, by its SHA-256.
func ConfigVersionPath(h *home.Home, digest string) string {
	return filepath.Join(EvidenceDir(h), "config", digest)
}

// ConfigFiles are the home's configuration files whose every change is
// logged (kind config.change): relative paths, slash-separated.
func ConfigFiles(h *home.Home) []string {
	out := []string{home.ConfigFile, policy.SettingsFile, protect.FileName, WatchConfigFile, "log/" + tlog.PolicyFile}
	agr, _ := filepath.Glob(filepath.Join(AgreementsDir(h), "*.yaml"))
	sort.Strings(agr)
	for _, a := range agr {
		out = append(out, "agreements/"+filepath.Base(a))
	}
	return out
}

// LoggedConfig returns the newest logged digest of every configuration
// file the log has seen ("" for a file logged as removed).
func LoggedConfig(ents []tlog.Indexed) map[string]string {
	last := map[string]string{}
	for _, e := range ents {
		if e.Kind == tlog.KindConfigChange {
			last[e.Details["file"]] = e.Details["digest"]
		}
	}
	return last
}

// RecordConfig logs every configuration file whose content differs from
// its last logged version (or that was removed), keeping a copy of each
// new version under EvidenceDir so an audit bundle can carry it. Files
// edited by hand (policy.yaml) are caught at the next call: the
// scheduler's config job and 'audit export' call it. It returns the
// files that changed.
func (v *Vault) RecordConfig(ctx context.Context) ([]string, error) {
	rc := v.Recorder()
	rd, err := rc.Reader()
	if err != nil {
		return nil, err
	}
	_, ents, err := rd.All(ctx)
	if err != nil && !errors.Is(err, tlog.ErrEmpty) {
		return nil, fmt.Errorf("config history: %w", err)
	}
	last := LoggedConfig(ents)
	var changed []string
	var out []tlog.Entry
	present := map[string]bool{}
	for _, name := range ConfigFiles(v.Home) {
		b, err := os.ReadFile(filepath.Join(v.Home.Dir, filepath.FromSlash(name)))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		present[name] = true
		sum := sha256.Sum256(b)
		digest := hex.EncodeToString(sum[:])
		if last[name] == digest {
			continue
		}
		p := ConfigVersionPath(v.Home, digest)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, err
		}
		if _, err := os.Stat(p); err != nil {
			if err := atomicfile.Write(p, b, 0o600); err != nil {
				return nil, err
			}
		}
		changed = append(changed, name)
		out = append(out, tlog.ConfigChangeEntry(name, digest, int64(len(b))))
	}
	for _, name := range sortedKeys(last) {
		if last[name] != "" && !present[name] {
			changed = append(changed, name)
			out = append(out, tlog.ConfigChangeEntry(name, "", 0))
		}
	}
	if err := rc.Append(ctx, out...); err != nil {
		return nil, err
	}
	return changed, nil
}
