package protect

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Capture is a consistent view of a source, ready to snapshot: either
// paths or a stream. For a stream, Wait reports whether the producer
// succeeded; a snapshot must not be committed unless it returns nil.
type Capture struct {
	Paths     []string
	Stdin     io.Reader
	StdinName string
	wait      func() error
	cleanup   func()
}

// Wait waits for the producer of a stream and returns its failure.
func (c *Capture) Wait() error {
	if c.wait == nil {
		return nil
	}
	return c.wait()
}

// Close releases the capture (kills a producer still running).
func (c *Capture) Close() {
	if c.cleanup != nil {
		c.cleanup()
	}
}

// Open captures src; work is a private folder for copies.
func Open(ctx context.Context, src Source, work string) (*Capture, error) {
	switch src.Type {
	case KindDir:
		if _, err := os.Stat(src.Path); err != nil {
			return nil, fmt.Errorf("source %w", err)
		}
		return &Capture{Paths: []string{src.Path}}, nil
	case KindSQLite:
		p, err := copySQLite(ctx, src, work)
		if err != nil {
			return nil, err
		}
		paths := []string{p}
		// Without the sqlite3 shell the copy is the database plus its
		// write-ahead log: committed transactions not yet checkpointed live
		// only in the -wal file, and SQLite replays it when the restored
		// database is opened. Leaving it out lost those transactions.
		if fi, err := os.Stat(p + "-wal"); err == nil && fi.Size() > 0 {
			paths = append(paths, p+"-wal")
		}
		return &Capture{Paths: paths}, nil
	case KindPostgres:
		return dumpPostgres(ctx, src)
	}
	return nil, fmt.Errorf("unknown source type %q", src.Type)
}

func binary(configured, name string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	return exec.LookPath(name)
}

func pgArgs(src Source) []string {
	var a []string
	if src.Host != "" {
		a = append(a, "-h", src.Host)
	}
	if src.Port != 0 {
		a = append(a, "-p", strconv.Itoa(src.Port))
	}
	if src.User != "" {
		a = append(a, "-U", src.User)
	}
	return append(a, "-w") // never prompt for a password
}

// dumpPostgres streams pg_dump's output. Wait returns an error when pg_dump
// exits non-zero (for example because the server went away mid-dump), with
// the end of its stderr.
func dumpPostgres(ctx context.Context, src Source) (*Capture, error) {
	bin, err := binary(src.PgDump, "pg_dump")
	if err != nil {
		return nil, fmt.Errorf("pg_dump not found: %w", err)
	}
	args := append(pgArgs(src), "--format="+src.Format, "--no-password", src.Database)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr tail
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start pg_dump: %w", err)
	}
	ext := ".dump"
	if src.Format == "plain" {
		ext = ".sql"
	}
	done := false
	c := &Capture{Stdin: out, StdinName: src.Database + ext}
	c.wait = func() error {
		done = true
		if err := cmd.Wait(); err != nil {
			return fmt.Errorf("pg_dump %s failed (%v): %s", src.Database, err, strings.TrimSpace(stderr.String()))
		}
		return nil
	}
	c.cleanup = func() {
		if !done {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	return c, nil
}

// tail keeps the last 2 KiB written.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = t.b[len(t.b)-2048:]
	}
	return len(p), nil
}
func (t *tail) String() string { return string(t.b) }

var sqliteMagic = []byte("SQLite format 3\x00")

// copySQLite makes a consistent copy of a SQLite database in work: with the
// sqlite3 shell's online backup if available (then quick_check), otherwise
// by copying the database and its WAL until two stats around the copy agree
// and checking the header.
func copySQLite(ctx context.Context, src Source, work string) (string, error) {
	if err := os.MkdirAll(work, 0o700); err != nil {
		return "", err
	}
	dst := filepath.Join(work, filepath.Base(src.Path))
	os.Remove(dst)
	os.Remove(dst + "-wal")
	if bin, err := binary(src.SQLite3, "sqlite3"); err == nil {
		out, err := exec.CommandContext(ctx, bin, "-readonly", src.Path, ".backup '"+strings.ReplaceAll(dst, "'", "''")+"'").CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("sqlite3 backup of %s: %v: %s", src.Path, err, strings.TrimSpace(string(out)))
		}
		out, err = exec.CommandContext(ctx, bin, "-readonly", dst, "PRAGMA quick_check;").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "ok" {
			return "", fmt.Errorf("sqlite3 copy of %s fails its check: %v %s", src.Path, err, strings.TrimSpace(string(out)))
		}
		return dst, nil
	}
	for try := 0; try < 10; try++ {
		before, err := statSet(src.Path, src.Path+"-wal")
		if err != nil {
			return "", err
		}
		if err := copyFile(src.Path, dst); err != nil {
			return "", err
		}
		if err := copyFile(src.Path+"-wal", dst+"-wal"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		after, err := statSet(src.Path, src.Path+"-wal")
		if err != nil {
			return "", err
		}
		if before == after {
			return dst, checkSQLite(dst)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Duration(try+1) * 50 * time.Millisecond):
		}
	}
	return "", fmt.Errorf("sqlite database %s kept changing during the copy; install sqlite3 for online backups", src.Path)
}

func statSet(paths ...string) (string, error) {
	var b strings.Builder
	for _, p := range paths {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			b.WriteString("-;")
			continue
		}
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%d:%d;", fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String(), nil
}

func checkSQLite(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	var h [100]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		return fmt.Errorf("sqlite copy %s: %w", p, err)
	}
	if !bytes.Equal(h[:16], sqliteMagic) {
		return fmt.Errorf("sqlite copy %s: not a SQLite 3 database", p)
	}
	page := int64(h[16])<<8 | int64(h[17])
	if page == 1 {
		page = 65536
	}
	pages := int64(h[28])<<24 | int64(h[29])<<16 | int64(h[30])<<8 | int64(h[31])
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if pages > 0 && page*pages != fi.Size() {
		return fmt.Errorf("sqlite copy %s: %d pages of %d bytes but %d bytes", p, pages, page, fi.Size())
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Fingerprint summarises a source's state so a poll can tell whether it
// changed: file names, sizes and modification times for folders and SQLite
// files, the WAL position for PostgreSQL. "" means unknown (always due).
func Fingerprint(ctx context.Context, src Source) string {
	h := sha256.New()
	switch src.Type {
	case KindDir:
		err := filepath.WalkDir(src.Path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return nil
			}
			fmt.Fprintf(h, "%s\x00%d\x00%d\x00%o\n", p, fi.Size(), fi.ModTime().UnixNano(), fi.Mode())
			return nil
		})
		if err != nil {
			return ""
		}
	case KindSQLite:
		s, err := statSet(src.Path, src.Path+"-wal")
		if err != nil {
			return ""
		}
		h.Write([]byte(s))
	case KindPostgres:
		bin, err := binary(src.Psql, "psql")
		if err != nil {
			return ""
		}
		args := append(pgArgs(src), "-X", "-A", "-t", "-d", src.Database, "-c", "select pg_current_wal_lsn()")
		out, err := exec.CommandContext(ctx, bin, args...).Output()
		if err != nil {
			return ""
		}
		h.Write(out)
	}
	return hex.EncodeToString(h.Sum(nil))
}
