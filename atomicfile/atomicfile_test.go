package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileReplacesWholeOrNothing(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f.json")
	if err := WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("half-writ"))
	// Not committed yet: readers still see the old content.
	if got, _ := os.ReadFile(p); string(got) != "old" {
		t.Fatalf("before commit: %q", got)
	}
	f.Abort()
	if got, _ := os.ReadFile(p); string(got) != "old" {
		t.Fatalf("after abort: %q", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("abort left temporary files: %v", entries)
	}
	if err := WriteFile(p, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	st, _ := os.Stat(p)
	if string(got) != "new" || st.Mode().Perm() != 0o644 {
		t.Fatalf("got %q mode %v", got, st.Mode())
	}
	if err := f.Commit(); err == nil {
		t.Fatal("commit after abort must fail")
	}
}

func TestReplaceDir(t *testing.T) {
	root := t.TempDir()
	final := filepath.Join(root, "out")
	for _, content := range []string{"first", "second"} {
		tmp, err := TempDirFor(final)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(tmp, "x"), []byte(content), 0o644)
		if _, err := os.Stat(filepath.Join(final, "x")); err == nil {
			if got, _ := os.ReadFile(filepath.Join(final, "x")); string(got) == content {
				t.Fatal("new content visible before ReplaceDir")
			}
		}
		if err := ReplaceDir(tmp, final); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(filepath.Join(final, "x")); string(got) != content {
			t.Fatalf("after replace: %q, want %q", got, content)
		}
	}
	entries, _ := os.ReadDir(root)
	if len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}
}
