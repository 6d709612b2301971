package dataset

import (
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// Every string column of a shard is a Parquet STRING (UTF-8) column, and
// strict readers (DuckDB, Arrow's validating readers) refuse a whole file
// with one ill-formed value in it. The writer therefore refuses invalid
// UTF-8 with the row and column; text inputs are checked or decoded where
// they are read (encoding.go).

// invalidUTF8Column returns the first string column of r whose value is
// not valid UTF-8, with the byte offset of the first ill-formed byte.
func invalidUTF8Column[T Record](r *T) (column string, offset int, found bool) {
	if fields := recordFields[T](); fields != nil {
		base := unsafe.Pointer(r)
		for _, f := range fields {
			if f.kind != kindString {
				continue
			}
			if s := *(*string)(unsafe.Add(base, f.offset)); !utf8.ValidString(s) {
				return f.name, firstInvalidUTF8(s), true
			}
		}
		return "", 0, false
	}
	v := reflect.ValueOf(r).Elem()
	for i := range v.NumField() {
		if fv := v.Field(i); fv.Kind() == reflect.String && !utf8.ValidString(fv.String()) {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("parquet"), ",")
			return name, firstInvalidUTF8(fv.String()), true
		}
	}
	return "", 0, false
}

// firstInvalidUTF8 is the byte offset of the first ill-formed byte of s
// (a character cut short counts from its first byte), len(s) when s is
// valid.
func firstInvalidUTF8(s string) int {
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(s)
}

// firstInvalidUTF8Bytes is firstInvalidUTF8 for a byte slice.
func firstInvalidUTF8Bytes(b []byte) int {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// checkRowsUTF8 refuses rows with a string column that is not valid UTF-8;
// first is the 1-based number in the dataset of rows[0].
func checkRowsUTF8[T Record](dir string, first int64, rows []T) error {
	for i := range rows {
		col, off, bad := invalidUTF8Column(&rows[i])
		if !bad {
			continue
		}
		id := ""
		if rid := rows[i].recordID(); rid != "" && utf8.ValidString(rid) {
			id = fmt.Sprintf(" (id %s)", rid)
		}
		return fmt.Errorf("dataset %s: row %d%s: invalid UTF-8 in column %q (byte offset %d): string columns are Parquet STRING, which must be UTF-8 (strict readers such as DuckDB refuse the whole file); decode model output with the tokenizer's Decode, which replaces ill-formed bytes by U+FFFD",
			dir, first+int64(i), id, col, off)
	}
	return nil
}
