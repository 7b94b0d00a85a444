package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Options say what the file is to be once in place.
type Options struct {
	// Mode is the file's permission bits (and set-id and sticky bits), set
	// exactly: the umask does not apply. 0 means 0644.
	Mode fs.FileMode
	// ModTime, when set, is the file's access and modification time.
	ModTime time.Time
	// Owner, when set, is the file's owner (chown needs root).
	Owner *Owner
	// MakeDirs creates missing parent directories (0755).
	MakeDirs bool
	// NoSync skips syncing the file and its directory. For files inside a
	// tree that is itself temporary (a build's staging tree): a crash
	// loses the whole tree, so syncing each file only costs time.
	NoSync bool
}

// TempGlob matches the temporary files Create makes (".NAME.kiln-RANDOM"),
// for a cache that removes what a killed process left behind.
const TempGlob = ".*.kiln-*"

const modeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// Owner is a numeric user and group.
type Owner struct{ UID, GID int }

// File is a file being written in place of a path. It is an *os.File (for
// Write, WriteAt, Truncate...) whose Close discards it unless Commit put it
// in place.
type File struct {
	*os.File
	path string
	o    Options
	done bool
}

// Create starts writing path.
func Create(path string, o Options) (*File, error) {
	if o.Mode == 0 {
		o.Mode = 0o644
	}
	dir := filepath.Dir(path)
	if o.MakeDirs {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("writing %s: %w", path, err)
		}
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".kiln-*")
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	// CreateTemp made it 0600; the final mode is set before any byte is
	// written, so a file that is to be private never is anything else.
	if err := f.Chmod(o.Mode & modeBits); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return &File{File: f, path: path, o: o}, nil
}

// Commit syncs the file, gives it its owner and time and renames it over
// the path. After a failed Commit the temporary file is gone.
func (f *File) Commit() (err error) {
	if f.done {
		return fmt.Errorf("writing %s: already committed or closed", f.path)
	}
	f.done = true
	tmp := f.File.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
			err = fmt.Errorf("writing %s: %w", f.path, err)
		}
	}()
	if f.o.Owner != nil {
		// chown clears set-id bits, so the mode is set again after it.
		if err := errors.Join(f.File.Chown(f.o.Owner.UID, f.o.Owner.GID), f.File.Chmod(f.o.Mode&modeBits)); err != nil {
			f.File.Close()
			return err
		}
	}
	if !f.o.NoSync {
		if err := f.File.Sync(); err != nil {
			f.File.Close()
			return err
		}
	}
	if err := f.File.Close(); err != nil {
		return err
	}
	if !f.o.ModTime.IsZero() {
		if err := os.Chtimes(tmp, f.o.ModTime, f.o.ModTime); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, f.path); err != nil {
		return err
	}
	if !f.o.NoSync {
		// The rename is durable once the directory is.
		if d, err := os.Open(filepath.Dir(f.path)); err == nil {
			d.Sync()
			d.Close()
		}
	}
	return nil
}

// Close discards the file unless it was committed; it is safe to defer.
func (f *File) Close() error {
	if f.done {
		return nil
	}
	f.done = true
	return errors.Join(f.File.Close(), os.Remove(f.File.Name()))
}

// WriteFile writes data to path atomically.
func WriteFile(path string, data []byte, o Options) error {
	f, err := Create(path, o)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Commit()
}
