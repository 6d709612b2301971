package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Dest is the destination of a command's output and what the command may
// find there. Every command that writes an output checks it with Check
// before it reads or computes anything, so that an output never replaces
// what the command did not write:
//
//   - a missing path or an empty folder is always fine;
//   - an existing output is fine only when Ours says it is a previous output
//     of the same kind (a dataset folder whose manifest names the same kind,
//     a model folder this tool wrote, ...), which the command then replaces
//     or continues;
//   - anything else (a file where a folder is written, a folder where a file
//     is written, a non-empty folder of something else) is refused;
//   - the output may not be one of the command's inputs, lie inside one, or
//     contain one (replacing it would destroy what the command reads).
//
// There is deliberately no way to override the refusal: the user removes
// or renames what is in the way.
type Dest struct {
	// Path is the output: a folder, or a file when File is set.
	Path string
	// What names the kind of output in messages, e.g. "response dataset".
	What string
	// File says the output is one file rather than a folder.
	File bool
	// Ours reports whether what exists at Path (a non-empty folder, or with
	// File an existing file) is a previous output of the same kind that the
	// command may replace or continue. nil: nothing existing is.
	Ours func(path string) bool
	// Inputs are the files and folders the command reads ("" entries are
	// ignored).
	Inputs []string
}

// Check returns an error naming Path and the problem when the command
// must not write there; see Dest.
func (d Dest) Check() error {
	if d.Path == "" {
		return errors.New("no output path given")
	}
	out := resolve(d.Path)
	for _, in := range d.Inputs {
		if in == "" {
			continue
		}
		a := resolve(in)
		switch {
		case a == out:
			return fmt.Errorf("%s is also an input of this command; choose another output", d.Path)
		case within(a, out):
			return fmt.Errorf("%s contains the input %s; choose an output outside the inputs", d.Path, in)
		case within(out, a):
			return fmt.Errorf("%s is inside the input %s; choose an output outside the inputs", d.Path, in)
		}
	}
	st, err := os.Stat(d.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", d.Path, err)
	}
	ours := d.Ours != nil && d.Ours(d.Path)
	if d.File {
		switch {
		case st.IsDir():
			return fmt.Errorf("%s is a folder, not a %s file; give the path of the file to write", d.Path, d.What)
		case !ours:
			return fmt.Errorf("%s already exists and is not a %s; rlhf replaces only its own earlier outputs: choose another path or move the file away", d.Path, d.What)
		}
		return nil
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is a file, not a %s folder; choose another path (rlhf replaces only its own earlier outputs)", d.Path, d.What)
	}
	if ours {
		return nil
	}
	entries, err := os.ReadDir(d.Path)
	if err != nil {
		return fmt.Errorf("%s: %w", d.Path, err)
	}
	if len(entries) == 0 {
		return nil
	}
	return fmt.Errorf("%s is a non-empty folder that is not a %s (it holds %s); rlhf replaces only its own earlier outputs: choose another path, or empty or remove the folder yourself", d.Path, d.What, listEntries(entries))
}

// listEntries names up to four entries of a folder, folders with a
// trailing slash.
func listEntries(entries []os.DirEntry) string {
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() {
			n += "/"
		}
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) > 4 {
		return strings.Join(names[:4], ", ") + fmt.Sprintf(" and %d more", len(names)-4)
	}
	return strings.Join(names, ", ")
}

// resolve returns the absolute, cleaned path of p with the symbolic links of
// its longest existing prefix resolved, so that two names of one file
// compare equal.
func resolve(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	var rest []string
	for cur := a; ; {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(append([]string{r}, rest...)...)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return a
		}
		rest = append([]string{filepath.Base(cur)}, rest...)
		cur = parent
	}
}

// within reports whether path a lies strictly inside folder b (both resolved).
func within(a, b string) bool {
	rel, err := filepath.Rel(b, a)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// Created remembers which of a path and the folders above it did not exist
// yet, so that a command that fails can remove exactly what it created
// there, and nothing that existed before.
type Created struct {
	path string
	// top is the highest missing folder of path and its parents; "" when
	// path existed.
	top string
}

// Track records which of path and its parents are missing now.
func Track(path string) Created {
	c := Created{path: filepath.Clean(path)}
	for cur := c.path; ; {
		if _, err := os.Lstat(cur); err == nil {
			break
		}
		c.top = cur
		parent := filepath.Dir(cur)
		if parent == cur {
			break
		}
		cur = parent
	}
	return c
}

// Existed reports whether the path existed when Track was called.
func (c Created) Existed() bool { return c.top == "" }

// Undo removes the path with everything in it if it did not exist when
// Track was called, then the missing parents Track found, as long as they
// are empty. It does nothing when the path existed.
func (c Created) Undo() {
	if c.top == "" {
		return
	}
	os.RemoveAll(c.path)
	c.RemoveEmptyParents()
}

// RemoveEmptyParents removes the folders above the path that Track found
// missing and that are empty now, from the deepest up (the path itself is
// left alone).
func (c Created) RemoveEmptyParents() {
	if c.top == "" || c.top == c.path {
		return
	}
	for cur := filepath.Dir(c.path); ; cur = filepath.Dir(cur) {
		if os.Remove(cur) != nil || cur == c.top {
			return
		}
	}
}
