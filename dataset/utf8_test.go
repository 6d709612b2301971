package dataset

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestWriterRefusesInvalidUTF8(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "responses")
	w, err := Create[Response](dir, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if err := w.Write(Response{Prompt: "p", Response: "fine 中文"}, Response{Prompt: "p", Response: "ok"}); err != nil {
		t.Fatal(err)
	}
	// What a byte-level model writes when its bytes are stored as they are:
	// a character cut short.
	err = w.Write(Response{Prompt: "p", Response: "good"}, Response{ID: "r4", Prompt: "p", Response: "ab\xe4\xb8", Model: "m"})
	if err == nil {
		t.Fatal("invalid UTF-8 in a string column was written")
	}
	for _, want := range []string{dir, "row 4", "r4", `column "response"`, "byte offset 2", "UTF-8"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if w.Rows() != 2 {
		t.Fatalf("%d rows written, want the 2 of the first call only (a refused call writes none)", w.Rows())
	}
	err = w.Write(Response{Prompt: "p", Response: "x", Model: "\xff"})
	if err == nil || !strings.Contains(err.Error(), `column "model"`) || !strings.Contains(err.Error(), "row 3") {
		t.Fatalf("dictionary column: got %v", err)
	}
	// A literal U+FFFD is valid text.
	if err := w.Write(Response{Prompt: "p", Response: "ab\uFFFD"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadAll[Response](dir)
	if err != nil || len(rows) != 3 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
}
