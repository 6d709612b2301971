package dataset

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// FileInspection summarises a lone input file, JSONL or Parquet (one of
// rlhf's shards or a file written by DuckDB, pandas or Spark): what
// `rlhf inspect FILE` prints.
type FileInspection struct {
	Path   string `json:"path"`
	Format string `json:"format"` // "jsonl" or "parquet"
	// Kind is the record kind a shard of an rlhf dataset declares (its
	// rlhf.kind metadata); empty for other files.
	Kind Kind `json:"kind,omitempty"`
	// CreatedBy is the writer a Parquet file names (DuckDB,
	// parquet-cpp-arrow for pandas, parquet-go...).
	CreatedBy string `json:"created_by,omitempty"`
	Rows      int64  `json:"rows"`
	// Columns are the Parquet leaf columns, or the JSONL fields in the
	// order first seen.
	Columns []FileColumn `json:"columns"`
	// Head holds the first rows as JSON objects.
	Head []json.RawMessage `json:"head"`
	// Malformed counts JSONL lines that are not a JSON object;
	// FirstMalformed is the first one (file:line: reason).
	Malformed      int64  `json:"malformed,omitempty"`
	FirstMalformed string `json:"first_malformed,omitempty"`
}

// FileColumn is one column of a FileInspection: its name (dotted for a
// nested Parquet column), its type (Parquet's logical or physical type, or
// the JSON type of the first non-null value) and, for JSONL, the number of
// rows that have it.
type FileColumn struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Rows int64  `json:"rows,omitempty"`
}

// InspectFile summarises a .jsonl(.gz)/.json/.ndjson or .parquet file;
// head is the number of rows to keep for display.
func InspectFile(path string, head int) (*FileInspection, error) {
	switch {
	case isJSONL(path):
		return inspectJSONL(path, head)
	case strings.HasSuffix(path, ".parquet"):
		return inspectParquet(path, head)
	}
	return nil, fmt.Errorf("%s: not a dataset directory, .parquet or .jsonl file", path)
}

func inspectJSONL(path string, head int) (*FileInspection, error) {
	in := &FileInspection{Path: path, Format: "jsonl", Columns: []FileColumn{}, Head: []json.RawMessage{}}
	col := map[string]int{}
	err := EachLine(path, func(line int, text []byte) error {
		keys, values, err := jsonObjectFields(text)
		if err != nil {
			in.Malformed++
			if in.FirstMalformed == "" {
				in.FirstMalformed = fmt.Sprintf("%s:%d: %v", path, line, err)
			}
			return nil
		}
		in.Rows++
		for i, k := range keys {
			j, ok := col[k]
			if !ok {
				j = len(in.Columns)
				col[k] = j
				in.Columns = append(in.Columns, FileColumn{Name: k})
			}
			c := &in.Columns[j]
			c.Rows++
			if t := jsonType(values[i]); c.Type == "" || c.Type == "null" {
				c.Type = t
			}
		}
		if len(in.Head) < head {
			var buf bytes.Buffer
			if err := json.Compact(&buf, text); err == nil {
				in.Head = append(in.Head, buf.Bytes())
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return in, nil
}

// jsonObjectFields returns the keys of a JSON object, in order, and their
// raw values.
func jsonObjectFields(text []byte) ([]string, []json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(text))
	if tok, err := dec.Token(); err != nil {
		return nil, nil, err
	} else if tok != json.Delim('{') {
		return nil, nil, errors.New("not a JSON object")
	}
	var keys []string
	var values []json.RawMessage
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		keys, values = append(keys, tok.(string)), append(values, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, errors.New("data after the JSON object")
	}
	return keys, values, nil
}

func jsonType(v json.RawMessage) string {
	switch b := bytes.TrimSpace(v); {
	case len(b) == 0:
		return ""
	case b[0] == '"':
		return "string"
	case b[0] == '{':
		return "object"
	case b[0] == '[':
		return "array"
	case b[0] == 't' || b[0] == 'f':
		return "boolean"
	case b[0] == 'n':
		return "null"
	}
	return "number"
}

func inspectParquet(path string, head int) (*FileInspection, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable Parquet file (truncated or damaged?): %w", path, err)
	}
	createdBy := strings.TrimSpace(strings.TrimSuffix(pf.Metadata().CreatedBy, "(build )"))
	in := &FileInspection{Path: path, Format: "parquet", Rows: pf.NumRows(), CreatedBy: createdBy,
		Columns: []FileColumn{}, Head: []json.RawMessage{}}
	if k, ok := pf.Lookup("rlhf.kind"); ok {
		in.Kind = Kind(k)
	}
	schema := pf.Schema()
	var leaves []parquet.LeafColumn
	for _, p := range schema.Columns() {
		leaf, _ := schema.Lookup(p...)
		leaves = append(leaves, leaf)
		in.Columns = append(in.Columns, FileColumn{Name: columnName(p), Type: leafType(leaf)})
	}
	if head <= 0 {
		return in, nil
	}
	buf := make([]parquet.Row, head)
	for _, rg := range pf.RowGroups() {
		rows := rg.Rows()
		n, err := rows.ReadRows(buf[:head-len(in.Head)])
		rows.Close()
		for _, row := range buf[:n] {
			in.Head = append(in.Head, rowJSON(in.Columns, leaves, row))
		}
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(in.Head) >= head {
			break
		}
	}
	return in, nil
}

// columnName is a leaf column's dotted path, with the inner levels of a
// standard LIST (name.list.element, as Arrow and DuckDB write lists) left
// out.
func columnName(path []string) string {
	if n := len(path); n >= 3 && path[n-2] == "list" && (path[n-1] == "element" || path[n-1] == "item") {
		path = path[:n-2]
	}
	return strings.Join(path, ".")
}

// leafType names a Parquet column's type: its logical type when it has
// one, else the physical type, and "list of" for repeated columns.
func leafType(leaf parquet.LeafColumn) string {
	t := leaf.Node.Type()
	name := t.Kind().String()
	if lt := t.LogicalType(); lt != nil && lt.String() != "" {
		name = lt.String()
		if it, ok := lt.Value.(*format.IntType); ok {
			name = fmt.Sprintf("INT%d", it.BitWidth)
			if !it.IsSigned {
				name = "U" + name
			}
		}
	}
	if leaf.MaxRepetitionLevel > 0 {
		return "list of " + name
	}
	if leaf.Node.Optional() || leaf.MaxDefinitionLevel > 0 {
		return name + " (nullable)"
	}
	return name
}

// rowJSON renders a row as a JSON object with the columns in schema order:
// repeated columns as arrays, nulls as null.
func rowJSON(cols []FileColumn, leaves []parquet.LeafColumn, row parquet.Row) json.RawMessage {
	vals := make([]any, len(cols))
	for i, leaf := range leaves {
		if leaf.MaxRepetitionLevel > 0 {
			vals[i] = []any{}
		}
	}
	for _, v := range row {
		c := v.Column()
		if c < 0 || c >= len(cols) {
			continue
		}
		leaf := leaves[c]
		if leaf.MaxRepetitionLevel > 0 {
			if v.IsNull() {
				continue // an empty or null list, or a null element
			}
			vals[c] = append(vals[c].([]any), parquetValue(leaf, v))
			continue
		}
		if !v.IsNull() {
			vals[c] = parquetValue(leaf, v)
		}
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(c.Name)
		b.Write(k)
		b.WriteByte(':')
		v, err := marshalNoEscape(vals[i])
		if err != nil {
			v = []byte(`"?"`)
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func marshalNoEscape(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// parquetValue converts a non-null value for display: times and dates as
// RFC 3339 text, byte arrays as text when they are UTF-8 (else hex), and
// non-finite floats as text (JSON has no NaN).
func parquetValue(leaf parquet.LeafColumn, v parquet.Value) any {
	var lt format.LogicalTypeValue
	if l := leaf.Node.Type().LogicalType(); l != nil {
		lt = l.Value
	}
	switch v.Kind() {
	case parquet.Boolean:
		return v.Boolean()
	case parquet.Int32:
		if _, ok := lt.(*format.DateType); ok {
			return time.Unix(int64(v.Int32())*86400, 0).UTC().Format("2006-01-02")
		}
		return v.Int32()
	case parquet.Int64:
		if ts, ok := lt.(*format.TimestampType); ok && ts.Unit.Value != nil {
			d := ts.Unit.Value.Duration()
			t := time.Unix(0, 0).Add(time.Duration(v.Int64()) * d)
			if ts.IsAdjustedToUTC {
				t = t.UTC()
			}
			return t.UTC().Format(time.RFC3339Nano)
		}
		return v.Int64()
	case parquet.Int96:
		return v.Int96().String()
	case parquet.Float:
		return finite(float64(v.Float()))
	case parquet.Double:
		return finite(v.Double())
	case parquet.ByteArray, parquet.FixedLenByteArray:
		b := v.ByteArray()
		if utf8.Valid(b) {
			return string(b)
		}
		return "0x" + hex.EncodeToString(b)
	}
	return v.String()
}

func finite(x float64) any {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return fmt.Sprint(x)
	}
	return x
}

// WriteText prints the file inspection for people.
func (in *FileInspection) WriteText(w io.Writer) {
	fmt.Fprintf(w, "file      %s\n", in.Path)
	fmt.Fprintf(w, "format    %s\n", in.Format)
	if in.Kind != "" {
		fmt.Fprintf(w, "kind      %s\n", in.Kind)
	}
	if in.CreatedBy != "" {
		fmt.Fprintf(w, "written   by %s\n", in.CreatedBy)
	}
	fmt.Fprintf(w, "rows      %d\n", in.Rows)
	if in.Malformed > 0 {
		fmt.Fprintf(w, "malformed %d line(s), the first at %s\n", in.Malformed, in.FirstMalformed)
	}
	fmt.Fprintf(w, "\ncolumns\n")
	for _, c := range in.Columns {
		if in.Format == "jsonl" {
			fmt.Fprintf(w, "  %-20s %-8s in %d of %d rows\n", c.Name, c.Type, c.Rows, in.Rows)
		} else {
			fmt.Fprintf(w, "  %-20s %s\n", c.Name, c.Type)
		}
	}
	if len(in.Head) > 0 {
		fmt.Fprintf(w, "\nfirst %d row(s)\n", len(in.Head))
		for _, h := range in.Head {
			fmt.Fprintf(w, "  %s\n", h)
		}
	}
}

// notADataset explains a directory without a manifest that is something
// else: a folder of split datasets, or a model folder. It returns nil for
// other directories.
func notADataset(dir string) error {
	if splits := splitNames(dir); len(splits) > 0 {
		return fmt.Errorf("%s has no %s but holds the splits %s: pass one of them (e.g. %s)",
			dir, ManifestName, strings.Join(splits, ", "), filepath.Join(dir, splits[0]))
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
		return fmt.Errorf("%s is a model folder (config.json), not a dataset: use rlhf model inspect %s", dir, dir)
	}
	return nil
}
