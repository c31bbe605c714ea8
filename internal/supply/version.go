package supply

import (
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/digital-embassy/embassy/internal/strict"
)

// VersionFormat identifies the daemon's version answer (GET /v1/version).
const VersionFormat = "embassy.daemon-version.v1"

// MaxVersionAnswer bounds the version answer a home reads.
const MaxVersionAnswer = 64 << 10

// DaemonVersion is what a daemon reports of the binary it runs: the SHA-256
// of its executable as it was started and its embedded build information.
// It reaches the home over mutual TLS from the site's pinned certificate;
// a host that rewrites the daemon can make it lie, which is why key release
// is decided on attested measurements, not on this answer.
type DaemonVersion struct {
	Format    string            `json:"format"`
	Artifact  string            `json:"artifact"`
	Digest    string            `json:"digest"`
	Size      int64             `json:"size"`
	GoVersion string            `json:"go_version"`
	Main      string            `json:"main"` // module path@version
	Settings  map[string]string `json:"settings,omitempty"`
	Deps      int               `json:"deps"`
	Started   time.Time         `json:"started"`
}

// NewVersion describes a running binary.
func NewVersion(artifact, digest string, size int64, bi *debug.BuildInfo, started time.Time) DaemonVersion {
	v := DaemonVersion{Format: VersionFormat, Artifact: artifact, Digest: digest, Size: size, Started: started.UTC()}
	if bi != nil {
		v.GoVersion, v.Main, v.Deps = bi.GoVersion, bi.Main.Path+"@"+bi.Main.Version, len(bi.Deps)
		v.Settings = map[string]string{}
		for _, s := range bi.Settings {
			v.Settings[s.Key] = s.Value
		}
	}
	return v
}

// ParseVersion decodes a daemon's version answer strictly: every field is
// written by the host.
func ParseVersion(b []byte) (*DaemonVersion, error) {
	if len(b) > MaxVersionAnswer {
		return nil, fmt.Errorf("daemon version answer is %d bytes: at most %d", len(b), MaxVersionAnswer)
	}
	var v DaemonVersion
	if err := strict.JSON(b, &v); err != nil {
		return nil, fmt.Errorf("daemon version answer: %w", err)
	}
	switch {
	case v.Format != VersionFormat:
		return nil, fmt.Errorf("daemon version answer: format %q: want %q", v.Format, VersionFormat)
	case !artifactRE().MatchString(v.Artifact):
		return nil, fmt.Errorf("daemon version answer: artifact %q is not an artifact name", v.Artifact)
	case !digestRE().MatchString(v.Digest):
		return nil, fmt.Errorf("daemon version answer: digest %q: want 64 lowercase hex digits (SHA-256)", v.Digest)
	case v.Size < 0 || v.Deps < 0 || v.Deps > 10000:
		return nil, errors.New("daemon version answer: size or dependency count out of range")
	case len(v.Settings) > 64:
		return nil, fmt.Errorf("daemon version answer: %d build settings: at most 64", len(v.Settings))
	}
	for k, s := range map[string]string{"go_version": v.GoVersion, "main": v.Main} {
		if len(s) > 512 || !printable(s) {
			return nil, fmt.Errorf("daemon version answer: %s is not printable ASCII of at most 512 characters", k)
		}
	}
	for k, s := range v.Settings {
		if len(k) > 128 || len(s) > 1024 || !printable(k) || !printable(s) {
			return nil, errors.New("daemon version answer: a build setting is not printable ASCII or is too long")
		}
	}
	return &v, nil
}
