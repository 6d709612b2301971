package prompts

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/option"
)

// Source is one parsed --source flag: [task=]adapter:path[?key=value,...].
type Source struct {
	// Name identifies the source in the report and the `source` column:
	// the name= option, or adapter:basename(path).
	Name string
	// Task is the task forced by "task=" ("" when the adapter decides).
	Task string
	// Adapter is the adapter name.
	Adapter string
	// Path is a file, a glob or (for qa) a dataset directory.
	Path string
	// Opts holds the key=value options: column renames (canonical=column)
	// and the adapter's own options (format, lang, max, labels, ...).
	Opts map[string]string
	// Spec is the flag text, for error messages.
	Spec string
	// Encoding is the character encoding of the source's text files: the
	// encoding= option, else Options.Encoding (UTF-8 when empty).
	Encoding dataset.Encoding
}

// ParseSource parses one --source value.
func ParseSource(spec string) (Source, error) {
	s := Source{Spec: spec, Opts: map[string]string{}}
	rest := spec
	if i := strings.Index(rest, "?"); i >= 0 {
		for _, kv := range strings.FieldsFunc(rest[i+1:], func(r rune) bool { return r == ',' || r == '&' }) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return s, option.Errorf("{Sources} %q: option %q is not key=value", spec, kv)
			}
			s.Opts[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
		rest = rest[:i]
	}
	head, path, ok := strings.Cut(rest, ":")
	if !ok || path == "" {
		return s, option.Errorf("{Sources} %q: want [task=]adapter:path[?field=column,...]", spec)
	}
	if task, ad, ok := strings.Cut(head, "="); ok {
		if !dataset.IsTask(task) {
			return s, option.Errorf("{Sources} %q: unknown task %q (want one of %s)", spec, task, strings.Join(dataset.Tasks, ", "))
		}
		s.Task, head = task, ad
	}
	if _, ok := adapters[head]; !ok {
		return s, option.Errorf("{Sources} %q: unknown adapter %q (want one of %s)", spec, head, strings.Join(AdapterNames(), ", "))
	}
	s.Adapter, s.Path = head, path
	s.Name = s.Opts["name"]
	if s.Name == "" {
		s.Name = s.Adapter + ":" + filepath.Base(path)
	}
	if v, ok := s.Opts["encoding"]; ok {
		enc, err := dataset.ParseEncoding(v)
		if err != nil {
			return s, option.Errorf("{Sources} %q: encoding=: %w", spec, err)
		}
		s.Encoding = enc
	}
	if v, ok := s.Opts["max"]; ok {
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			return s, option.Errorf("{Sources} %q: max=%q is not a row count", spec, v)
		}
	}
	return s, nil
}

// col returns the input column name for canonical field f: the rename given
// in the options (f=column), or def.
func (s *Source) col(f, def string) string {
	if v, ok := s.Opts[f]; ok && v != "" {
		return v
	}
	return def
}

// maxRows is the per-source cap from the max= option (0: none).
func (s *Source) maxRows() int {
	n, _ := strconv.Atoi(s.Opts["max"])
	return n
}

// files expands the source path: a file, a glob, or a directory (all regular
// files inside, sorted).
func (s *Source) files() ([]string, error) {
	var out []string
	matches, err := filepath.Glob(s.Path)
	if err != nil {
		return nil, option.Errorf("{Sources} %q: bad glob: %w", s.Spec, err)
	}
	for _, m := range matches {
		st, err := os.Stat(m)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, m)
			continue
		}
		ents, err := os.ReadDir(m)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") && !strings.HasPrefix(e.Name(), "_") {
				out = append(out, filepath.Join(m, e.Name()))
			}
		}
	}
	if len(out) == 0 {
		return nil, option.Errorf("{Sources} %q: no input file at %s", s.Spec, s.Path)
	}
	sort.Strings(out)
	return out, nil
}

// lineReader yields the lines of one input with their 1-based line
// numbers.
type lineReader struct {
	path string
	rd   *bufio.Reader
	line int
}

// pos names the current line for error messages.
func (l *lineReader) pos() string { return fmt.Sprintf("%s:%d", l.path, l.line) }

// eachLine calls fn for every non-blank line of every file of the source,
// trimmed, in the source's encoding (a UTF-8 line that is not valid UTF-8
// is an error naming the file, line and JSON field).
func eachLine(s *Source, fn func(pos string, line []byte) error) error {
	files, err := s.files()
	if err != nil {
		return err
	}
	for _, p := range files {
		if err := eachLineOf(p, s.Encoding, fn); err != nil {
			return err
		}
	}
	return nil
}

// eachLineOf is eachLine for one file.
func eachLineOf(path string, enc dataset.Encoding, fn func(pos string, line []byte) error) error {
	return dataset.EachLineAs(path, enc, func(n int, b []byte) error {
		return fn(fmt.Sprintf("%s:%d", path, n), b)
	})
}
