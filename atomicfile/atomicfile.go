// Package atomicfile writes files and directories so that a reader sees
// either the old content or the complete new content, never a half-written
// file: data goes to a temporary name in the same directory, is fsynced, and
// is renamed over the final name; the directory is fsynced after the rename.
//
// Temporary names start with "." and end in ".tmp", so globs such as
// part-*.parquet never match them.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// File is a file being written atomically. Write to it, then call Commit to
// publish it under its final name, or Abort to drop it.
type File struct {
	*os.File
	final string
	done  bool
}

// Create opens a temporary file beside path. Nothing appears at path until
// Commit succeeds.
func Create(path string) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("create temporary file for %s: %w", path, err)
	}
	return &File{File: f, final: path}, nil
}

// Commit flushes the data to disk, closes the file and renames it to its
// final name.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("%s: already committed or aborted", f.final)
	}
	f.done = true
	tmp := f.Name()
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("sync %s: %w", f.final, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("close %s: %w", f.final, err)
	}
	if err := os.Rename(tmp, f.final); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rename into %s: %w", f.final, err)
	}
	return SyncDir(filepath.Dir(f.final))
}

// Abort closes and removes the temporary file. It is a no-op after Commit,
// so `defer f.Abort()` is safe.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	os.Remove(f.Name())
}

// WriteFile writes data to path atomically with the given permissions.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	return f.Commit()
}

// SyncDir fsyncs a directory so that renames inside it are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// ReplaceDir publishes the fully written directory tmp under the name final.
// An existing final directory is moved aside first and removed only after
// tmp is in place, so a crash leaves either the old or the new directory
// under final (plus, at worst, a leftover ".*.old" sibling).
func ReplaceDir(tmp, final string) error {
	if err := SyncDir(tmp); err != nil {
		return err
	}
	parent, base := filepath.Split(final)
	if parent == "" {
		parent = "."
	}
	var old string
	if _, err := os.Stat(final); err == nil {
		o, err := os.MkdirTemp(parent, "."+base+".*.old")
		if err != nil {
			return fmt.Errorf("move aside %s: %w", final, err)
		}
		os.Remove(o)
		if err := os.Rename(final, o); err != nil {
			return fmt.Errorf("move aside %s: %w", final, err)
		}
		old = o
	}
	if err := os.Rename(tmp, final); err != nil {
		if old != "" {
			os.Rename(old, final)
		}
		return fmt.Errorf("rename %s to %s: %w", tmp, final, err)
	}
	if err := SyncDir(parent); err != nil {
		return err
	}
	if old != "" {
		return os.RemoveAll(old)
	}
	return nil
}

// TempDirFor creates an empty temporary directory beside final (same file
// system, so ReplaceDir can rename it into place).
func TempDirFor(final string) (string, error) {
	parent, base := filepath.Split(filepath.Clean(final))
	if parent == "" {
		parent = "."
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", parent, err)
	}
	d, err := os.MkdirTemp(parent, "."+base+".*.tmp")
	if err != nil {
		return "", fmt.Errorf("create temporary directory for %s: %w", final, err)
	}
	return d, nil
}
