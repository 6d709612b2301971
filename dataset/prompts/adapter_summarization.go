package prompts

// readSummarization reads summarization pairs from JSONL, CSV or TSV.
// Defaults accept the LCSTS, CNN/DailyMail and XSum layouts: the document
// is the first non-empty of document, article, text, content; the summary of
// summary, highlights, abstract, title. Column options: document=, summary=.
// Native task: summarization. Fields: document, summary (also used by the
// generative templates: an article from a headline, a title for a text).
func readSummarization(s *Source, emit func(Example) error, bad func(string, error)) error {
	docCols := []string{"document", "article", "text", "content"}
	sumCols := []string{"summary", "highlights", "abstract", "title"}
	if c := s.Opts["document"]; c != "" {
		docCols = []string{c}
	}
	if c := s.Opts["summary"]; c != "" {
		sumCols = []string{c}
	}
	return eachRecord(s, func(pos string, r record) error {
		doc, sum := r.str(docCols...), r.str(sumCols...)
		if doc == "" || sum == "" {
			bad(pos, malformed("want a document (%v) and a summary (%v)", docCols, sumCols))
			return nil
		}
		return emit(Example{Pos: pos, Tasks: []string{"summarization"}, Fields: map[string]string{
			"document": doc, "summary": joinLines(sum),
		}})
	}, bad)
}
