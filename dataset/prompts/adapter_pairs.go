package prompts

import (
	"strings"
)

// readPairs reads sentence pairs from JSONL, CSV or TSV, as paraphrases or
// translations. Native task: rewrite.
//
//   - Paraphrase (PAWS-X, LCQMC, QQP-like): sentence1, sentence2 and an
//     optional label; with a label only positive pairs (1, true, yes) are
//     kept (negative pairs are skipped: they are not rewrites). Fields:
//     text, paraphrase.
//   - Translation (WMT/Hugging Face-like translation.{zh,en}, or columns zh
//     and en): one Example per direction, zh→en with Chinese instructions
//     and en→zh with English ones. Fields: source_text, target_text,
//     source_lang, target_lang.
//
// Column options: sentence1=, sentence2=, label=, zh=, en=.
func readPairs(s *Source, emit func(Example) error, bad func(string, error)) error {
	c1, c2, lc := s.col("sentence1", "sentence1"), s.col("sentence2", "sentence2"), s.col("label", "label")
	zc, ec := s.col("zh", "translation.zh"), s.col("en", "translation.en")
	return eachRecord(s, func(pos string, r record) error {
		if zh, en := r.str(zc, "zh"), r.str(ec, "en"); zh != "" && en != "" {
			if err := emit(Example{Pos: pos, Tasks: []string{"rewrite"}, Lang: "zh", Fields: map[string]string{
				"source_text": zh, "target_text": en, "source_lang": "zh", "target_lang": "en",
			}}); err != nil {
				return err
			}
			return emit(Example{Pos: pos, Tasks: []string{"rewrite"}, Lang: "en", Fields: map[string]string{
				"source_text": en, "target_text": zh, "source_lang": "en", "target_lang": "zh",
			}})
		}
		a, b := r.str(c1, "text1", "question1"), r.str(c2, "text2", "question2")
		if a == "" || b == "" {
			bad(pos, malformed("want %q and %q (paraphrase) or %q and %q (translation)", c1, c2, zc, ec))
			return nil
		}
		switch strings.ToLower(r.str(lc)) {
		case "", "1", "true", "yes", "paraphrase", "entailment":
		default:
			return nil // a labelled non-paraphrase: not a rewrite example
		}
		return emit(Example{Pos: pos, Tasks: []string{"rewrite"}, Fields: map[string]string{
			"text": a, "paraphrase": b,
		}})
	}, bad)
}
