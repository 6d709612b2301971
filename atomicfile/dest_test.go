package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDestCheck(t *testing.T) {
	dir := t.TempDir()
	mk := func(rel string, isDir bool) string {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if isDir {
			os.MkdirAll(p, 0o755)
		} else {
			os.WriteFile(p, []byte("x"), 0o644)
		}
		return p
	}
	empty := mk("empty", true)
	foreign := mk("foreign/src", true)
	foreign = filepath.Dir(foreign)
	mk("foreign/notes.txt", false)
	mine := mk("mine/MARK", false)
	mine = filepath.Dir(mine)
	file := mk("file.json", false)
	input := mk("in/data", true)
	input = filepath.Dir(input)
	ours := func(p string) bool { _, err := os.Stat(filepath.Join(p, "MARK")); return err == nil }
	oursFile := func(p string) bool { raw, _ := os.ReadFile(p); return string(raw) == "x" }
	link := filepath.Join(dir, "link")
	if err := os.Symlink(input, link); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name string
		d    Dest
		want string // "" for no error, else a substring
	}{
		{"missing", Dest{Path: filepath.Join(dir, "new", "out"), What: "x dataset", Ours: ours}, ""},
		{"empty folder", Dest{Path: empty, What: "x dataset", Ours: ours}, ""},
		{"previous output", Dest{Path: mine, What: "x dataset", Ours: ours}, ""},
		{"foreign folder", Dest{Path: foreign, What: "x dataset", Ours: ours}, "non-empty folder that is not a x dataset (it holds notes.txt, src/)"},
		{"foreign folder, nothing ours", Dest{Path: mine, What: "x dataset"}, "non-empty folder"},
		{"file for a folder", Dest{Path: file, What: "x dataset", Ours: func(string) bool { return true }}, "is a file, not a x dataset folder"},
		{"folder for a file", Dest{Path: empty, What: "tokenizer.json", File: true, Ours: oursFile}, "is a folder"},
		{"own file", Dest{Path: file, What: "tokenizer.json", File: true, Ours: oursFile}, ""},
		{"foreign file", Dest{Path: file, What: "tokenizer.json", File: true}, "already exists"},
		{"an input", Dest{Path: input, What: "x dataset", Ours: func(string) bool { return true }, Inputs: []string{"", input}}, "is also an input"},
		{"an input, other spelling", Dest{Path: input + "/./", What: "x dataset", Inputs: []string{filepath.Join(dir, "foreign", "..", "in")}}, "is also an input"},
		{"an input through a link", Dest{Path: link, What: "x dataset", Inputs: []string{input}}, "is also an input"},
		{"inside an input", Dest{Path: filepath.Join(input, "out"), What: "x dataset", Inputs: []string{input}}, "is inside the input"},
		{"inside an input through a link", Dest{Path: filepath.Join(link, "data", "new"), What: "x dataset", Inputs: []string{input}}, "is inside the input"},
		{"contains an input", Dest{Path: dir, What: "x dataset", Ours: func(string) bool { return true }, Inputs: []string{filepath.Join(input, "data")}}, "contains the input"},
		{"a sibling input", Dest{Path: input + "2", What: "x dataset", Inputs: []string{input}}, ""},
	} {
		err := c.d.Check()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want an error with %q", c.name, err, c.want)
		}
	}
}

func TestCreatedUndo(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "keep"), []byte("k"), 0o644)
	out := filepath.Join(dir, "a", "b", "c", "out")
	c := Track(out)
	if c.Existed() {
		t.Fatal("a missing path is reported as existing")
	}
	os.MkdirAll(filepath.Join(out, "sub"), 0o755)
	os.WriteFile(filepath.Join(out, "sub", "f"), []byte("f"), 0o644)
	c.Undo()
	if _, err := os.Stat(filepath.Join(dir, "a", "b")); !os.IsNotExist(err) {
		t.Fatalf("undo left what it created: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a", "keep")); err != nil {
		t.Fatalf("undo removed what existed before: %v", err)
	}

	// An existing path is never removed.
	c = Track(filepath.Join(dir, "a"))
	if !c.Existed() {
		t.Fatal("an existing path is reported as missing")
	}
	c.Undo()
	if _, err := os.Stat(filepath.Join(dir, "a", "keep")); err != nil {
		t.Fatalf("undo removed an existing folder: %v", err)
	}

	// A parent that something else filled meanwhile stays.
	c = Track(filepath.Join(dir, "p", "out"))
	os.MkdirAll(filepath.Join(dir, "p", "out"), 0o755)
	os.WriteFile(filepath.Join(dir, "p", "other"), []byte("o"), 0o644)
	c.Undo()
	if _, err := os.Stat(filepath.Join(dir, "p", "other")); err != nil {
		t.Fatalf("undo removed a non-empty parent: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "p", "out")); !os.IsNotExist(err) {
		t.Fatalf("undo left the output: %v", err)
	}
}
