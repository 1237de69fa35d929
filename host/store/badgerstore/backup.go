package badgerstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Backup writes a full backup of the live database to w in Badger's own
// backup format (db.Backup(w, 0)) and returns the version it reached.
// Sealed fields stay sealed in the backup. Cancelling ctx aborts the stream.
func (s *Store) Backup(ctx context.Context, w io.Writer) (version uint64, err error) {
	defer s.done("backup", time.Now(), &err)
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	return s.db.Backup(ctxWriter{ctx, w}, 0)
}

// Restore loads a stream written by Backup into o.Dir, which must be absent
// or empty. The data is loaded into a temporary sibling directory that is
// renamed into place only when the load succeeded, so a failed restore
// leaves nothing behind. Only o.Dir and o.Logger are used.
func Restore(ctx context.Context, o Options, r io.Reader) error {
	if o.Dir == "" || o.InMemory || o.ReadOnly {
		return errors.New("badgerstore: restore needs a writable on-disk Options.Dir")
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "badgerstore")
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return fmt.Errorf("badgerstore: restore: %w", err)
	}
	entries, err := os.ReadDir(dir)
	switch {
	case err == nil && len(entries) > 0:
		return fmt.Errorf("badgerstore: restore: refusing to restore into %s: it is not empty", dir)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("badgerstore: restore: %w", err)
	}
	existed := err == nil
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return fmt.Errorf("badgerstore: restore: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".restore-*")
	if err != nil {
		return fmt.Errorf("badgerstore: restore: %w", err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed

	db, err := badger.Open(badgerOptions(tmp, Options{}, log))
	if err != nil {
		return fmt.Errorf("badgerstore: restore: open %s: %w", tmp, err)
	}
	if err := db.Load(ctxReader{ctx, r}, 256); err != nil {
		db.Close()
		return fmt.Errorf("badgerstore: restore: load: %w", err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("badgerstore: restore: close: %w", err)
	}
	if existed {
		if err := os.Remove(dir); err != nil { // fails if files appeared meanwhile
			return fmt.Errorf("badgerstore: restore: %w", err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("badgerstore: restore: %w", err)
	}
	if d, err := os.Open(parent); err == nil {
		d.Sync()
		d.Close()
	}
	log.Info("restored database from backup", "dir", dir)
	return nil
}

// ctxWriter fails writes once ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
