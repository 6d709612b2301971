package dataset

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreateReplacesOnlyADatasetOfItsKind(t *testing.T) {
	dir := t.TempDir()
	write := func(p string) error {
		w, err := Create[Prompt](p, WriterOptions{})
		if err != nil {
			return err
		}
		defer w.Abort()
		if err := w.Write(Prompt{Prompt: "hi"}); err != nil {
			return err
		}
		return w.Close()
	}
	foreign := filepath.Join(dir, "foreign")
	os.MkdirAll(filepath.Join(foreign, "src"), 0o755)
	os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("n"), 0o644)
	file := filepath.Join(dir, "f.json")
	os.WriteFile(file, []byte("{}"), 0o644)
	other := filepath.Join(dir, "other")
	ow, _ := Create[SFT](other, WriterOptions{})
	ow.Write(SFT{Prompt: "p", Response: "r"})
	if err := ow.Close(); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{foreign: "not a prompt dataset (it holds notes.txt, src/)", file: "is a file", other: "not a prompt dataset"} {
		if err := write(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error with %q", p, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(foreign, "notes.txt")); err != nil {
		t.Fatal(err)
	}
	if raw, _ := os.ReadFile(file); string(raw) != "{}" {
		t.Fatalf("the file changed: %q", raw)
	}
	if !IsKind(other, KindSFT) {
		t.Fatal("the sft dataset changed")
	}
	// A prompt dataset (and an empty folder) may be replaced.
	same := filepath.Join(dir, "same")
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	for _, p := range []string{same, same, empty} {
		if err := write(p); err != nil {
			t.Fatal(err)
		}
	}
	// Appending refuses a file and a dataset of another kind.
	for _, p := range []string{file, other} {
		if _, err := Create[Prompt](p, WriterOptions{Append: true}); err == nil {
			t.Errorf("append into %s was accepted", p)
		}
	}
}

func TestAbortRemovesTheParentsItCreated(t *testing.T) {
	dir := t.TempDir()
	w, err := Create[Prompt](filepath.Join(dir, "a", "b", "out"), WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(Prompt{Prompt: "hi"})
	w.Abort()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("abort left %v", entries)
	}
}
