package dataset

// Column-wise encoding and decoding of the record structs.
//
// parquet-go's generic reader and writer move data row by row: every row
// becomes a parquet.Row of boxed values, and Schema.Reconstruct or
// Deconstruct walks the struct by reflection for each of them. On 2 cores
// that was a quarter of the time of a read. The records of this package are
// flat structs of strings, 32/64-bit integers, float64, *int64, *float64
// and time.Time, so they can be moved a column at a time instead:
//
//   - reading, the values of each page are stored straight into the
//     records' fields; a string gets its own allocation (so a row kept
//     from a large dataset keeps only its own text, never its page), except
//     the values of a dictionary-encoded page, which share the chunk's
//     dictionary copied into one string;
//   - writing, each column is handed to its column writer as a run of
//     parquet.Value that point into the records' own strings (the column
//     buffer copies them), without a parquet.Row per record.
//
// Files whose layout does not fit (a repeated or nested column, another
// physical type) use parquet-go's generic path, so the fast path never
// changes which files are accepted or what is read from them; the tests
// compare the two paths on every record kind.

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// fieldKind is the Go type of a record field.
type fieldKind uint8

const (
	kindString fieldKind = iota
	kindInt32
	kindInt64
	kindFloat64
	kindTime
)

// physical is the Parquet physical type that holds each field kind.
var physical = [...]parquet.Kind{
	kindString:  parquet.ByteArray,
	kindInt32:   parquet.Int32,
	kindInt64:   parquet.Int64,
	kindFloat64: parquet.Double,
	kindTime:    parquet.Int64,
}

// recordField is one field of a record struct.
type recordField struct {
	name    string  // column name (the parquet tag)
	offset  uintptr // offset in the struct
	kind    fieldKind
	pointer bool // *int64 or *float64: nil is null
	// missingOK: the column may be absent from a file (rlhf:"missing-ok");
	// the field then keeps its zero value.
	missingOK bool
}

// columnField is a record field bound to a column of one schema.
type columnField struct {
	recordField
	col      int           // leaf column index
	optional bool          // the column has definition levels
	unit     time.Duration // timestamps: the unit of the stored integer
}

var recordFieldsCache sync.Map // reflect.Type -> []recordField (nil: not flat)

// recordFields lists the fields of T, or nil when a field has a type the
// column-wise path does not handle.
func recordFields[T Record]() []recordField {
	t := reflect.TypeFor[T]()
	if v, ok := recordFieldsCache.Load(t); ok {
		return v.([]recordField)
	}
	var fields []recordField
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("parquet"), ",")
		if name == "" || name == "-" {
			fields = nil
			break
		}
		f := recordField{name: name, offset: sf.Offset, missingOK: hasRLHFOption(sf, "missing-ok")}
		ft := sf.Type
		if ft.Kind() == reflect.Pointer {
			f.pointer, ft = true, ft.Elem()
		}
		switch {
		case ft == reflect.TypeFor[time.Time]() && !f.pointer:
			f.kind = kindTime
		case ft.Kind() == reflect.String && !f.pointer:
			f.kind = kindString
		case ft.Kind() == reflect.Int32 && !f.pointer:
			f.kind = kindInt32
		case ft.Kind() == reflect.Int64:
			f.kind = kindInt64
		case ft.Kind() == reflect.Float64:
			f.kind = kindFloat64
		default:
			recordFieldsCache.Store(t, []recordField(nil))
			return nil
		}
		fields = append(fields, f)
	}
	recordFieldsCache.Store(t, fields)
	return fields
}

// textColumns lists the columns of T tagged rlhf:"text".
func textColumns[T Record]() [][]string {
	var out [][]string
	t := reflect.TypeFor[T]()
	for i := range t.NumField() {
		sf := t.Field(i)
		if hasRLHFOption(sf, "text") {
			name, _, _ := strings.Cut(sf.Tag.Get("parquet"), ",")
			out = append(out, []string{name})
		}
	}
	return out
}

// hasRLHFOption reports whether the field's rlhf tag lists opt.
func hasRLHFOption(sf reflect.StructField, opt string) bool {
	for o := range strings.SplitSeq(sf.Tag.Get("rlhf"), ",") {
		if o == opt {
			return true
		}
	}
	return false
}

// missingOKColumns lists the columns of T tagged rlhf:"missing-ok".
func missingOKColumns[T Record]() map[string]bool {
	out := map[string]bool{}
	t := reflect.TypeFor[T]()
	for i := range t.NumField() {
		if sf := t.Field(i); hasRLHFOption(sf, "missing-ok") {
			name, _, _ := strings.Cut(sf.Tag.Get("parquet"), ",")
			out[name] = true
		}
	}
	return out
}

// bindColumns maps the fields of T onto the leaf columns of schema; ok is
// false when some column does not fit the column-wise path.
func bindColumns[T Record](schema *parquet.Schema) (fields []columnField, ok bool) {
	rf := recordFields[T]()
	if rf == nil {
		return nil, false
	}
	for _, f := range rf {
		leaf, found := schema.Lookup(f.name)
		if !found && f.missingOK {
			continue // an older file: the field stays zero
		}
		if !found || leaf.MaxRepetitionLevel != 0 || leaf.MaxDefinitionLevel > 1 || !leaf.Node.Leaf() {
			return nil, false
		}
		typ := leaf.Node.Type()
		if typ.Kind() != physical[f.kind] {
			return nil, false
		}
		cf := columnField{recordField: f, col: leaf.ColumnIndex, optional: leaf.MaxDefinitionLevel == 1}
		if f.kind == kindTime {
			lt := typ.LogicalType()
			if lt == nil {
				return nil, false
			}
			ts, isTS := lt.Value.(*format.TimestampType)
			if !isTS || ts.Unit.Value == nil {
				return nil, false
			}
			cf.unit = ts.Unit.Value.Duration()
		}
		fields = append(fields, cf)
	}
	return fields, true
}

// decodeRowGroup reads every row of rg into records, a column at a time.
func decodeRowGroup[T Record](rg parquet.RowGroup, fields []columnField) ([]T, error) {
	n := int(rg.NumRows())
	rows := make([]T, n)
	if n == 0 {
		return rows, nil
	}
	base := unsafe.Pointer(unsafe.SliceData(rows))
	size := unsafe.Sizeof(rows[0])
	chunks := rg.ColumnChunks()
	for _, f := range fields {
		if err := decodeColumn(chunks[f.col], f, base, size, n); err != nil {
			return nil, fmt.Errorf("column %q: %w", f.name, err)
		}
	}
	return rows, nil
}

func decodeColumn(chunk parquet.ColumnChunk, f columnField, base unsafe.Pointer, size uintptr, n int) error {
	pages := chunk.Pages()
	defer pages.Close()
	row := 0
	var dict dictStrings
	for {
		p, err := pages.ReadPage()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		k, err := decodePage(p, f, base, size, row, n, &dict)
		parquet.Release(p)
		if err != nil {
			return fmt.Errorf("page at row %d: %w", row, err)
		}
		row += k
	}
	if row != n {
		return fmt.Errorf("column holds %d rows, the row group %d", row, n)
	}
	return nil
}

// dictStrings is the dictionary of a string column chunk copied into one
// string, kept across the chunk's pages: the rows share it.
type dictStrings struct {
	dict    parquet.Dictionary
	s       string
	offsets []uint32
	lo      uint32
}

// checkOffsets verifies the offsets of a page's byte arrays, so that a
// damaged file gives an error rather than a panic.
func checkOffsets(data []byte, offsets []uint32) error {
	for i := 1; i < len(offsets); i++ {
		if offsets[i] < offsets[i-1] {
			return fmt.Errorf("byte array offsets decrease at value %d", i)
		}
	}
	if len(offsets) > 0 && int(offsets[len(offsets)-1]) > len(data) {
		return fmt.Errorf("byte array offsets run past the page's %d bytes", len(data))
	}
	return nil
}

// decodePage stores the values of page p into rows [row, row+k) and
// returns k.
func decodePage(p parquet.Page, f columnField, base unsafe.Pointer, size uintptr, row, n int, dict *dictStrings) (int, error) {
	k := int(p.NumRows())
	if int64(k) != p.NumValues() || len(p.RepetitionLevels()) != 0 {
		return 0, fmt.Errorf("repeated values in a flat column")
	}
	if row+k > n {
		return 0, fmt.Errorf("more values than the row group's %d rows", n)
	}
	defs := p.DefinitionLevels()
	if len(defs) != 0 && len(defs) != k {
		return 0, fmt.Errorf("%d definition levels for %d values", len(defs), k)
	}
	present := k
	for _, d := range defs {
		if d == 0 {
			present--
		}
	}
	vals := p.Data()
	var index []int32 // dictionary pages: the index of each present value
	if d := p.Dictionary(); d != nil {
		index = vals.Int32()
		vals = d.Page().Data()
	}
	var count int // values the page holds (dictionary: entries)
	switch f.kind {
	case kindString:
		_, offsets := vals.ByteArray()
		count = max(0, len(offsets)-1)
	case kindInt32:
		count = len(vals.Int32())
	case kindInt64, kindTime:
		count = len(vals.Int64())
	case kindFloat64:
		count = len(vals.Double())
	}
	if index != nil {
		if len(index) != present {
			return 0, fmt.Errorf("%d dictionary indexes for %d values", len(index), present)
		}
		for _, x := range index {
			if x < 0 || int(x) >= count {
				return 0, fmt.Errorf("dictionary index %d out of range [0, %d)", x, count)
			}
		}
	} else if count != present {
		return 0, fmt.Errorf("%d values for %d non-null rows", count, present)
	}

	// at returns the address of the field in row i of the page, or nil
	// when the row is null; v is the value index.
	v := 0
	at := func(i int) (unsafe.Pointer, int) {
		if defs != nil && defs[i] == 0 {
			return nil, 0
		}
		j := v
		v++
		if index != nil {
			j = int(index[j])
		}
		return unsafe.Add(base, uintptr(row+i)*size+f.offset), j
	}
	switch f.kind {
	case kindString:
		// Values of a plain page get a string each: a row kept from a large
		// dataset keeps only its own text, never its page. Values of a
		// dictionary page share the chunk's dictionary, which is small.
		data, offsets := vals.ByteArray()
		if err := checkOffsets(data, offsets); err != nil {
			return 0, err
		}
		if d := p.Dictionary(); d != nil {
			if d != dict.dict && len(offsets) > 0 {
				lo := offsets[0]
				dict.dict, dict.s, dict.offsets, dict.lo = d, string(data[lo:offsets[len(offsets)-1]]), offsets, lo
			}
			for i := range k {
				if ptr, j := at(i); ptr != nil {
					*(*string)(ptr) = dict.s[dict.offsets[j]-dict.lo : dict.offsets[j+1]-dict.lo]
				}
			}
			break
		}
		for i := range k {
			if ptr, j := at(i); ptr != nil {
				*(*string)(ptr) = string(data[offsets[j]:offsets[j+1]])
			}
		}
	case kindInt32:
		storeValues(k, present, false, vals.Int32(), at)
	case kindInt64:
		storeValues(k, present, f.pointer, vals.Int64(), at)
	case kindFloat64:
		storeValues(k, present, f.pointer, vals.Double(), at)
	case kindTime:
		src := vals.Int64()
		for i := range k {
			if ptr, j := at(i); ptr != nil {
				*(*time.Time)(ptr) = time.Unix(0, src[j]*int64(f.unit)).UTC()
			}
		}
	}
	return k, nil
}

// storeValues stores src[j] into the field of each of the page's k rows
// that at returns (nil for a null row): a V, or with pointer a *V into one
// slice allocated for the page's present values.
func storeValues[V int32 | int64 | float64](k, present int, pointer bool, src []V, at func(int) (unsafe.Pointer, int)) {
	var store []V
	if pointer {
		store = make([]V, 0, present) // never grows, so the pointers stay valid
	}
	for i := range k {
		ptr, j := at(i)
		switch {
		case ptr == nil:
		case pointer:
			store = append(store, src[j])
			*(**V)(ptr) = &store[len(store)-1]
		default:
			*(*V)(ptr) = src[j]
		}
	}
}

// writeChunkRows is the number of values handed to a column writer at a
// time; pages are cut between calls, so it bounds how far a page overshoots
// the page size (parquet-go's own writer uses the same 64).
const writeChunkRows = 64

// encodeRowGroup writes rows into the column writers of rg, a column at a
// time.
func encodeRowGroup[T Record](rg *parquet.ConcurrentRowGroupWriter, rows []T, fields []columnField) error {
	if len(rows) == 0 {
		return nil
	}
	cols := rg.ColumnWriters()
	base := unsafe.Pointer(unsafe.SliceData(rows))
	size := unsafe.Sizeof(rows[0])
	vals := make([]parquet.Value, 0, writeChunkRows)
	for _, f := range fields {
		for lo := 0; lo < len(rows); lo += writeChunkRows {
			vals = vals[:0]
			for i := lo; i < min(lo+writeChunkRows, len(rows)); i++ {
				vals = append(vals, fieldValue(unsafe.Add(base, uintptr(i)*size+f.offset), f))
			}
			if _, err := cols[f.col].WriteRowValues(vals); err != nil {
				return fmt.Errorf("column %q: %w", f.name, err)
			}
		}
	}
	return nil
}

// numberValue is the value of a V field, or of a *V field (null when nil).
func numberValue[V int64 | float64](ptr unsafe.Pointer, pointer bool, value func(V) parquet.Value) parquet.Value {
	if !pointer {
		return value(*(*V)(ptr))
	}
	if x := *(**V)(ptr); x != nil {
		return value(*x)
	}
	return parquet.NullValue()
}

// fieldValue is the Parquet value of the field at ptr, with its levels.
func fieldValue(ptr unsafe.Pointer, f columnField) parquet.Value {
	var v parquet.Value
	switch f.kind {
	case kindString:
		s := *(*string)(ptr)
		v = parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(s), len(s)))
	case kindInt32:
		v = parquet.Int32Value(*(*int32)(ptr))
	case kindInt64:
		if v = numberValue(ptr, f.pointer, parquet.Int64Value); v.IsNull() {
			return v.Level(0, 0, f.col)
		}
	case kindFloat64:
		if v = numberValue(ptr, f.pointer, parquet.DoubleValue); v.IsNull() {
			return v.Level(0, 0, f.col)
		}
	case kindTime:
		t := *(*time.Time)(ptr)
		switch f.unit {
		case time.Millisecond:
			v = parquet.Int64Value(t.UnixMilli())
		case time.Microsecond:
			v = parquet.Int64Value(t.UnixMicro())
		default:
			v = parquet.Int64Value(t.UnixNano() / int64(f.unit))
		}
	}
	def := 0
	if f.optional {
		def = 1
	}
	return v.Level(0, def, f.col)
}
