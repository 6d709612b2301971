package prompts

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/rlhf-project/rlhf/dataset"
)

// entityNames translates the entity types of CLUENER and of common BIO tag
// sets into readable names per language; unknown types are shown as they are.
var entityNames = map[string][2]string{ // type: {zh, en}
	"name": {"人名", "person names"}, "per": {"人名", "person names"}, "person": {"人名", "person names"},
	"organization": {"组织机构", "organizations"}, "org": {"组织机构", "organizations"},
	"address": {"地址", "addresses"}, "loc": {"地名", "locations"}, "location": {"地名", "locations"},
	"gpe": {"地缘政治实体", "geopolitical entities"}, "company": {"公司", "companies"},
	"government": {"政府机构", "government bodies"}, "book": {"书名", "books"}, "game": {"游戏", "games"},
	"movie": {"电影", "movies"}, "position": {"职位", "job titles"}, "scene": {"景点", "scenic spots"},
	"misc": {"其他专名", "other named entities"}, "date": {"日期", "dates"}, "time": {"时间", "times"},
}

// entityFields fills entity_type (the raw type), entity_type_zh / _en
// (readable names) and entities.
func entityFields(text, typ string, ents []string) map[string]string {
	names, ok := entityNames[strings.ToLower(typ)]
	if !ok {
		names = [2]string{typ, typ}
	}
	return map[string]string{
		"text": text, "entity_type": typ, "entity_type_zh": names[0], "entity_type_en": names[1],
		"entities": strings.Join(ents, ListSep),
	}
}

// readCluener reads CLUENER-style JSONL: text and label {type: {entity:
// [[start, end], ...]}}. One extract Example per entity type present in a
// line. Fields: text, entity_type, entity_type_zh, entity_type_en, entities.
// Column options: text=, label=.
func readCluener(s *Source, emit func(Example) error, bad func(string, error)) error {
	tc, lc := s.col("text", "text"), s.col("label", "label")
	return eachRecord(s, func(pos string, r record) error {
		text := r.str(tc)
		labels, ok := r.get(lc).(map[string]any)
		if text == "" || !ok {
			bad(pos, malformed("want %q and a %q object {type: {entity: [[start, end]]}}", tc, lc))
			return nil
		}
		types := make([]string, 0, len(labels))
		for t := range labels {
			types = append(types, t)
		}
		sort.Strings(types)
		for _, t := range types {
			ents, ok := labels[t].(map[string]any)
			if !ok {
				bad(pos, malformed("label %q is not an {entity: spans} object", t))
				return nil
			}
			names := make([]string, 0, len(ents))
			for e := range ents {
				names = append(names, e)
			}
			sort.Strings(names)
			if err := emit(Example{Pos: fmt.Sprintf("%s (%s)", pos, t), Tasks: []string{"extract"}, Fields: entityFields(text, t, names)}); err != nil {
				return err
			}
		}
		return nil
	}, bad)
}

// readBIO reads BIO (or IOB2/BIOES) token files: one "token TAG" per line
// (whitespace or tab separated; the tag is the last column), a blank line
// between sentences. Tokens are joined without spaces when they are CJK
// characters. One extract Example per entity type of a sentence.
func readBIO(s *Source, emit func(Example) error, bad func(string, error)) error {
	files, err := s.files()
	if err != nil {
		return err
	}
	for _, p := range files {
		in, err := dataset.OpenTextAs(p, s.Encoding)
		if err != nil {
			return err
		}
		lr := &lineReader{path: p, rd: newPeekReader(in).Reader}
		var toks, tags []string
		start := 0
		flush := func() error {
			defer func() { toks, tags = toks[:0], tags[:0] }()
			if len(toks) == 0 {
				return nil
			}
			pos := fmt.Sprintf("%s:%d", p, start)
			return emitBIO(emit, pos, toks, tags)
		}
		for {
			b, err := lr.rd.ReadString('\n')
			if err != nil && err != io.EOF {
				in.Close()
				if dataset.IsInvalidUTF8(err) {
					return err
				}
				return fmt.Errorf("%s:%d: %w", p, lr.line+1, err)
			}
			if b == "" && err != nil {
				break
			}
			lr.line++
			line := strings.TrimSpace(b)
			if line == "" || strings.HasPrefix(line, "-DOCSTART-") {
				if err := flush(); err != nil {
					in.Close()
					return err
				}
				continue
			}
			f := strings.Fields(line)
			if len(f) < 2 {
				bad(lr.pos(), malformed("want \"token TAG\""))
				continue
			}
			tag := f[len(f)-1]
			if tag != "O" && !(len(tag) > 2 && strings.ContainsRune("BIES", rune(tag[0])) && (tag[1] == '-' || tag[1] == '_')) {
				bad(lr.pos(), malformed("tag %q is not O, B-X, I-X, E-X or S-X", tag))
				continue
			}
			if len(toks) == 0 {
				start = lr.line
			}
			toks, tags = append(toks, f[0]), append(tags, tag)
		}
		err = flush()
		in.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func emitBIO(emit func(Example) error, pos string, toks, tags []string) error {
	cjk := true
	for _, t := range toks {
		r, _ := utf8.DecodeRuneInString(t)
		if !isCJK(r) {
			cjk = false
			break
		}
	}
	sep := " "
	if cjk {
		sep = ""
	}
	ents := map[string][]string{}
	var cur []string
	curType := ""
	end := func() {
		if curType != "" && len(cur) > 0 {
			e := strings.Join(cur, sep)
			if !contains(ents[curType], e) {
				ents[curType] = append(ents[curType], e)
			}
		}
		cur, curType = nil, ""
	}
	for i, tag := range tags {
		if tag == "O" {
			end()
			continue
		}
		kind, typ := tag[0], tag[2:]
		if kind == 'B' || kind == 'S' || typ != curType {
			end()
			curType = typ
		}
		cur = append(cur, toks[i])
		if kind == 'S' || kind == 'E' {
			end()
		}
	}
	end()
	text := strings.Join(toks, sep)
	types := make([]string, 0, len(ents))
	for t := range ents {
		types = append(types, t)
	}
	sort.Strings(types)
	for _, t := range types {
		if err := emit(Example{Pos: fmt.Sprintf("%s (%s)", pos, t), Tasks: []string{"extract"}, Fields: entityFields(text, t, ents[t])}); err != nil {
			return err
		}
	}
	return nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
