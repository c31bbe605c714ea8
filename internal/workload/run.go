package workload

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/digital-embassy/embassy/internal/broker"
	"github.com/digital-embassy/embassy/internal/repo"
	"github.com/digital-embassy/embassy/internal/restorer"
	"github.com/digital-embassy/embassy/internal/seal"
)

// EnvDir names the environment variable that gives the command the
// plaintext folder.
const EnvDir = "EMBASSY_DATASET_DIR"

// Decrypt restores the latest snapshot of the bundle's dataset from the
// given vault sites into target (which must not exist yet).
func Decrypt(ctx context.Context, kb *broker.KeyBundle, sites []*repo.Site, target string, log *slog.Logger) error {
	r, err := repo.Open(ctx, repo.Options{Home: kb.Home, Sites: sites, Logger: log})
	if err != nil {
		return err
	}
	dk := &repo.DatasetKeys{Name: kb.Dataset, ID: kb.DatasetID, Keys: map[uint32]*repo.DataKey{}, Current: kb.Current}
	for _, k := range kb.Keys {
		enc, err := seal.NewKey(k.Enc)
		if err != nil {
			return err
		}
		v := &repo.DataKey{Version: k.Version, Enc: enc}
		copy(v.IDKey[:], k.IDKey)
		copy(v.GearKey[:], k.GearKey)
		dk.Keys[k.Version] = v
	}
	d, err := r.OpenDataset(ctx, dk)
	if err != nil {
		return err
	}
	s, err := d.FindSnapshot(ctx, "latest")
	if err != nil {
		return err
	}
	if _, err := d.Bind(ctx, s); err != nil { // only the index set the manifest binds
		return err
	}
	_, err = restorer.Restore(ctx, d, s, target, restorer.Options{})
	return err
}

// PrivateDir makes a 0700 folder for plaintext, on a memory file system
// (/dev/shm) when there is one, else under the system temp folder.
func PrivateDir() (string, error) {
	base := os.TempDir()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		base = "/dev/shm"
	}
	return os.MkdirTemp(base, "embassy-workload-")
}

// Wipe overwrites every regular file under dir with zeros, then removes dir.
func Wipe(dir string) error {
	werr := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			_ = os.Chmod(p, 0o600) // a read-only file the workload left: the open below says if it worked
			if f, err = os.OpenFile(p, os.O_WRONLY, 0); err != nil {
				return nil
			}
		}
		_, err = io.CopyN(f, zeros{}, fi.Size())
		if serr := f.Sync(); err == nil {
			err = serr
		}
		f.Close()
		return err
	})
	// Folders the workload made read-only: RemoveAll below reports any left.
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return werr
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// RunOptions configure Run.
type RunOptions struct {
	Client   *Client
	Attester Attester
	Dataset  string
	Sites    []*repo.Site
	Command  []string
	Stdout   io.Writer
	Stderr   io.Writer
	Logger   *slog.Logger
}

// Run fetches the dataset's keys, decrypts the dataset into a private
// folder, runs the command with EnvDir set to it, and wipes the folder when
// the command ends (whatever its outcome). It returns the command's error.
func Run(ctx context.Context, o RunOptions) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if len(o.Command) == 0 {
		return fmt.Errorf("no command to run")
	}
	kb, _, err := o.Client.Fetch(ctx, o.Attester, o.Dataset)
	if err != nil {
		return err
	}
	defer kb.Wipe()
	dir, err := PrivateDir()
	if err != nil {
		return err
	}
	defer func() {
		if err := Wipe(dir); err != nil {
			o.Logger.ErrorContext(ctx, "wipe plaintext", "dir", dir, "err", err)
		}
	}()
	target := filepath.Join(dir, "data")
	start := time.Now() //nolint:forbidigo // elapsed time, not a stamp
	if err := Decrypt(ctx, kb, o.Sites, target, o.Logger); err != nil {
		return fmt.Errorf("decrypt %s: %w", o.Dataset, err)
	}
	kb.Wipe()
	o.Logger.InfoContext(ctx, "dataset decrypted", "dataset", o.Dataset, "dir", target, "took", time.Since(start))
	cmd := exec.CommandContext(ctx, o.Command[0], o.Command[1:]...)
	cmd.Env = append(os.Environ(), EnvDir+"="+target) //nolint:forbidigo // the workload runs in the caller's environment plus its data folder
	cmd.Stdout, cmd.Stderr = o.Stdout, o.Stderr
	return cmd.Run()
}
