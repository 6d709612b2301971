package dataset

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// Parquet files as the Hugging Face hub and TRL publish them: a lone
// .parquet file that is not a shard of this package (no rlhf.kind, not the
// kind's columns) but has the columns of one of the row formats the kind's
// JSONL reader takes: "messages" (a list of {role, content} structs),
// "conversations" (ShareGPT), "instruction"/"output" (Alpaca), TRL's
// "prompt"/"completion", or TRL's "prompt"/"chosen"/"rejected" as message
// lists. Each row
// is turned into the JSON object it would be in JSONL and decoded by the
// same functions (decodeJSONL), so both inputs read alike; errors name the
// file and row.

// hubColumns are the top-level columns that mark a hub Parquet file of each
// kind; "prompt" and "chosen" only as message lists (a file of plain
// string columns must have the kind's columns, as before).
var hubColumns = map[Kind][]string{
	KindSFT:        {"messages", "conversations", "instruction", "completion", "prompt"},
	KindComparison: {"prompt", "chosen"},
	KindPrompt:     {"messages", "conversations", "prompt"},
}

// hubParquet opens f as a hub Parquet file of kind T; ok is false when it
// is not one (a file written by this package, or without the columns of
// any row format of the kind).
func hubParquet[T Record](f io.ReaderAt, size int64) (*parquet.File, bool) {
	cols, ok := hubColumns[KindOf[T]()]
	if !ok {
		return nil, false
	}
	pf, err := parquet.OpenFile(f, size)
	if err != nil {
		return nil, false
	}
	if _, ok := pf.Lookup("rlhf.kind"); ok {
		return nil, false
	}
	for _, c := range cols {
		for _, fl := range pf.Schema().Fields() {
			if fl.Name() == c && (!fl.Leaf() || (c != "prompt" && c != "chosen")) {
				return pf, true
			}
		}
	}
	return nil, false
}

// eachParquetJSON calls fn with each row of a Parquet file as the JSON
// object it would be in JSONL (lists of structs as lists of objects), with
// its 1-based row number; an error of fn stops the walk. A row that cannot
// be turned into JSON goes to fn as nil text with the error in bad.
func eachParquetJSON(path string, fn func(row int, text []byte, bad error) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return fmt.Errorf("%s: not a readable Parquet file (truncated or damaged?): %w", path, err)
	}
	schema := pf.Schema()
	n := 0
	buf := make([]parquet.Row, 64)
	for _, rg := range pf.RowGroups() {
		err := func() error {
			rows := rg.Rows()
			defer rows.Close()
			for {
				k, rerr := rows.ReadRows(buf)
				for _, pr := range buf[:k] {
					n++
					m := map[string]any{}
					err := schema.Reconstruct(&m, pr)
					var text []byte
					if err == nil {
						text, err = json.Marshal(m)
					}
					if err := fn(n, text, err); err != nil {
						return err
					}
				}
				if rerr == io.EOF {
					return nil
				}
				if rerr != nil {
					return fmt.Errorf("%s row %d: %w", path, n+1, rerr)
				}
			}
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// EachJSONRow calls fn with each row of a JSONL(.gz) file in encoding enc,
// or of a Parquet file (.parquet), as a JSON object, with its position
// ("FILE:LINE" or "FILE row N"), for readers of row formats (build-prompts'
// chat source).
func EachJSONRow(path string, enc Encoding, fn func(pos string, text []byte) error) error {
	if strings.HasSuffix(path, ".parquet") {
		return eachParquetJSON(path, func(row int, text []byte, bad error) error {
			pos := fmt.Sprintf("%s row %d", path, row)
			if bad != nil {
				return fmt.Errorf("%s: %w", pos, bad)
			}
			return fn(pos, text)
		})
	}
	return EachLineAs(path, enc, func(line int, text []byte) error {
		return fn(fmt.Sprintf("%s:%d", path, line), text)
	})
}

// DecodeSFTJSON decodes one JSON row of the sft kind in any of the formats
// it reads (prompt/response, messages, ShareGPT, Alpaca), the conversation's
// earlier turns in History.
func DecodeSFTJSON(text []byte) (SFT, error) {
	var row SFT
	err := decodeSFT(text, &row)
	return row, err
}

// readHubParquet streams the rows of a hub Parquet file as records of kind
// T, as readJSONL does for JSONL: a row that is not of a format the kind
// reads is an error naming the file and row, after which Next may go on.
func readHubParquet[T Record](path string, send func(batch[T]) bool) error {
	r := rowBatcher[T]{send: send}
	return r.finish(eachParquetJSON(path, func(n int, text []byte, err error) error {
		return r.add(fmt.Sprintf("%s row %d", path, n), n, text, err)
	}))
}
