package prompts

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/rlhf-project/rlhf/option"
)

// maxLabels bounds the label set of a classification source (templates list
// every option).
const maxLabels = 200

// readClassification reads text classification data from JSONL, CSV or TSV
// (TNEWS- or AG-News-like). The text is the first non-empty of sentence,
// text, content; the label of label. Options: text=, label= (columns);
// labels= a label-name map, inline as "0:World|1:Sports|..." or a YAML/JSON
// file mapping raw labels to names. Without a map the raw labels are the
// names, collected by a pre-scan of the source. Native task: classification.
// Fields: text, label, options (every label name, sorted, ListSep-separated).
func readClassification(s *Source, emit func(Example) error, bad func(string, error)) error {
	textCols := []string{"sentence", "text", "content"}
	if c := s.Opts["text"]; c != "" {
		textCols = []string{c}
	}
	labelCol := s.col("label", "label")
	names, err := labelMap(s)
	if err != nil {
		return err
	}
	if names == nil {
		// Pre-scan: collect the raw labels so templates can list options.
		names = map[string]string{}
		err := eachRecord(s, func(pos string, r record) error {
			if l := r.str(labelCol); l != "" {
				names[l] = l
				if len(names) > maxLabels {
					return option.Errorf("{Sources} %q: more than %d distinct labels in column %q; is it the label column? (set label= or labels=)", s.Spec, maxLabels, labelCol)
				}
			}
			return nil
		}, func(string, error) {})
		if err != nil {
			return err
		}
	}
	var opts []string
	seen := map[string]bool{}
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			opts = append(opts, n)
		}
	}
	sort.Strings(opts)
	options := strings.Join(opts, ListSep)
	return eachRecord(s, func(pos string, r record) error {
		text, raw := r.str(textCols...), r.str(labelCol)
		if text == "" || raw == "" {
			bad(pos, malformed("want a text (%v) and a label (%q)", textCols, labelCol))
			return nil
		}
		name, ok := names[raw]
		if !ok {
			bad(pos, malformed("label %q is not in the labels= map", raw))
			return nil
		}
		return emit(Example{Pos: pos, Tasks: []string{"classification"}, Fields: map[string]string{
			"text": text, "label": name, "options": options,
		}})
	}, bad)
}

// labelMap parses the labels= option: "raw:name|raw:name" or a YAML/JSON
// file holding a map. nil when the option is absent.
func labelMap(s *Source) (map[string]string, error) {
	v := s.Opts["labels"]
	if v == "" {
		return nil, nil
	}
	m := map[string]string{}
	if st, err := os.Stat(v); err == nil && !st.IsDir() {
		raw, err := os.ReadFile(v)
		if err != nil {
			return nil, err
		}
		var any map[string]any
		if err := yaml.Unmarshal(raw, &any); err != nil {
			return nil, option.Errorf("{Sources} %q: labels file %s: want a map of raw label to name: %w", s.Spec, v, err)
		}
		for k, name := range any {
			m[k] = fmt.Sprint(name)
		}
		return m, nil
	}
	for _, kv := range strings.Split(v, "|") {
		k, name, ok := strings.Cut(kv, ":")
		if !ok || k == "" || name == "" {
			return nil, option.Errorf("{Sources} %q: labels=%q: want raw:name|raw:name or a file", s.Spec, v)
		}
		m[k] = name
	}
	return m, nil
}
