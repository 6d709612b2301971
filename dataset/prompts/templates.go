package prompts

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/option"
)

//go:embed templates/*.yaml
var builtinTemplates embed.FS

// Template turns the fields of an Example into an instruction prompt and a
// reference response. Prompt and Response are Go text/template texts over
// the fields (e.g. {{.question}}) plus .lang, with the functions listed in
// templateFuncs.
type Template struct {
	// ID is unique across the bank; it is stored in the template column.
	ID string `yaml:"id"`
	// Task is the task the template serves, or "*" for templates that apply
	// to any native task (instruction data). Defaults to the file's task.
	Task string `yaml:"task"`
	// Lang is the language of the instruction: zh or en.
	Lang string `yaml:"lang"`
	// Requires lists the fields that must be non-empty for the template to
	// apply.
	Requires []string `yaml:"requires"`
	// Prompt and Response are the template texts.
	Prompt   string `yaml:"prompt"`
	Response string `yaml:"response"`
	// MinResponseLines, when set, rejects a rendering whose response has
	// fewer lines (e.g. a "list of ideas" of one item). Default 0 (none).
	MinResponseLines int `yaml:"min_response_lines"`

	prompt, response *template.Template
	// fastPrompt / fastResponse are the same templates as lists of
	// literal text and field references, when they use nothing else
	// (most do): rendering them needs no reflection.
	fastPrompt, fastResponse []part
	file                     string
}

// part is a literal text (field == "") or a field reference.
type part struct{ text, field string }

// fastParts flattens a template made only of text and {{.field}} actions.
func fastParts(t *template.Template) []part {
	var out []part
	for _, n := range t.Tree.Root.Nodes {
		switch x := n.(type) {
		case *parse.TextNode:
			out = append(out, part{text: string(x.Text)})
		case *parse.ActionNode:
			if len(x.Pipe.Decl) != 0 || len(x.Pipe.Cmds) != 1 || len(x.Pipe.Cmds[0].Args) != 1 {
				return nil
			}
			f, ok := x.Pipe.Cmds[0].Args[0].(*parse.FieldNode)
			if !ok || len(f.Ident) != 1 {
				return nil
			}
			out = append(out, part{field: f.Ident[0]})
		default:
			return nil
		}
	}
	return out
}

func renderParts(parts []part, fields map[string]string) string {
	n := 0
	for _, p := range parts {
		n += len(p.text) + len(fields[p.field])
	}
	var sb strings.Builder
	sb.Grow(n)
	for _, p := range parts {
		if p.field != "" {
			sb.WriteString(fields[p.field])
		} else {
			sb.WriteString(p.text)
		}
	}
	return sb.String()
}

func (t *Template) exec(tt *template.Template, fast []part, fields map[string]string) (string, error) {
	if fast != nil {
		return strings.TrimSpace(renderParts(fast, fields)), nil
	}
	var sb strings.Builder
	if err := tt.Execute(&sb, fields); err != nil {
		return "", err
	}
	return strings.TrimSpace(sb.String()), nil
}

// templateFile is the layout of one YAML file of the bank.
type templateFile struct {
	// Task is the default task of the file's templates.
	Task      string     `yaml:"task"`
	Templates []Template `yaml:"templates"`
}

// Bank is a set of templates indexed by task and language.
type Bank struct {
	byID   map[string]*Template
	byTask map[string][]*Template // key task|lang, sorted by ID
	cache  map[eligibleKey][]*Template
}

// derivable are the tasks with thin public data that generative templates
// derive from other sources' fields.
var derivable = []string{"generation", "brainstorming", "other"}

// LoadBank loads the embedded bank and then the *.yaml files of dir (if
// not ""), whose templates add to the bank or replace those with the same
// id. With replace, the embedded bank is not loaded.
func LoadBank(dir string, replace bool) (*Bank, error) {
	b := &Bank{byID: map[string]*Template{}}
	if !replace {
		sub, _ := fs.Sub(builtinTemplates, "templates")
		if err := b.loadFS(sub, "templates"); err != nil {
			return nil, err
		}
	}
	if dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return nil, option.Errorf("{Templates} %s: %w", dir, err)
		}
		if err := b.loadFS(os.DirFS(dir), dir); err != nil {
			return nil, err
		}
	}
	if len(b.byID) == 0 {
		return nil, fmt.Errorf("template bank is empty")
	}
	b.index()
	return b, nil
}

func (b *Bank) loadFS(fsys fs.FS, root string) error {
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return err
	}
	more, _ := fs.Glob(fsys, "*.yml")
	names = append(names, more...)
	sort.Strings(names)
	for _, n := range names {
		raw, err := fs.ReadFile(fsys, n)
		if err != nil {
			return err
		}
		path := filepath.Join(root, n)
		var tf templateFile
		if err := yaml.Unmarshal(raw, &tf); err != nil {
			return fmt.Errorf("template file %s: %w", path, err)
		}
		for i := range tf.Templates {
			t := tf.Templates[i]
			if t.Task == "" {
				t.Task = tf.Task
			}
			t.file = path
			if err := t.compile(); err != nil {
				return fmt.Errorf("template file %s: template %d (%q): %w", path, i+1, t.ID, err)
			}
			b.byID[t.ID] = &t
		}
	}
	return nil
}

func (t *Template) compile() error {
	switch {
	case t.ID == "":
		return fmt.Errorf("missing id")
	case t.Task != "*" && !dataset.IsTask(t.Task):
		return fmt.Errorf("task %q is not one of %s (or *)", t.Task, strings.Join(dataset.Tasks, ", "))
	case t.Lang != "zh" && t.Lang != "en":
		return fmt.Errorf("lang %q: want zh or en", t.Lang)
	case len(t.Requires) == 0:
		return fmt.Errorf("requires: list the fields the template needs")
	case strings.TrimSpace(t.Prompt) == "" || strings.TrimSpace(t.Response) == "":
		return fmt.Errorf("prompt and response must both be set")
	}
	var err error
	if t.prompt, err = template.New(t.ID).Funcs(templateFuncs).Option("missingkey=zero").Parse(t.Prompt); err != nil {
		return fmt.Errorf("prompt: %w", err)
	}
	if t.response, err = template.New(t.ID).Funcs(templateFuncs).Option("missingkey=zero").Parse(t.Response); err != nil {
		return fmt.Errorf("response: %w", err)
	}
	t.fastPrompt, t.fastResponse = fastParts(t.prompt), fastParts(t.response)
	// A dry run with every required field set catches typos in function
	// calls; a field used but not required would render empty.
	dry := map[string]string{"lang": t.Lang}
	for _, f := range t.Requires {
		dry[f] = "x" + ListSep + "y"
	}
	if _, _, err := t.Render(dry); err != nil {
		return err
	}
	return nil
}

// Render executes the template over the fields.
func (t *Template) Render(fields map[string]string) (prompt, response string, err error) {
	if prompt, err = t.exec(t.prompt, t.fastPrompt, fields); err != nil {
		return "", "", fmt.Errorf("template %s (%s): prompt: %w", t.ID, t.file, err)
	}
	if response, err = t.exec(t.response, t.fastResponse, fields); err != nil {
		return "", "", fmt.Errorf("template %s (%s): response: %w", t.ID, t.file, err)
	}
	return prompt, response, nil
}

func (b *Bank) index() {
	b.byTask = map[string][]*Template{}
	b.cache = map[eligibleKey][]*Template{}
	ids := make([]string, 0, len(b.byID))
	for id := range b.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		t := b.byID[id]
		k := t.Task + "|" + t.Lang
		b.byTask[k] = append(b.byTask[k], t)
	}
}

// Count returns the number of templates for task and lang ("*" templates
// not included).
func (b *Bank) Count(task, lang string) int { return len(b.byTask[task+"|"+lang]) }

// eligibleKey indexes the Eligible cache.
type eligibleKey struct {
	task, lang string
	native     bool
	fieldSet   string
}

// FieldSet is the cache signature of the non-empty fields of an example:
// their sorted names joined by "|".
func FieldSet(names []string) string { return strings.Join(names, "|") }

// Eligible returns the templates of task and lang whose required fields are
// all non-empty in fields, sorted by id. With native, the "*" templates are
// included too (they apply to the native task of instruction data only).
// fieldSet is FieldSet of the non-empty field names. Not safe for
// concurrent use.
func (b *Bank) Eligible(task, lang string, native bool, fieldSet string, fields map[string]string) []*Template {
	k := eligibleKey{task, lang, native, fieldSet}
	if ts, ok := b.cache[k]; ok {
		return ts
	}
	var out []*Template
	pool := b.byTask[task+"|"+lang]
	if native {
		pool = append(append([]*Template{}, pool...), b.byTask["*|"+lang]...)
	}
	for _, t := range pool {
		ok := true
		for _, f := range t.Requires {
			if fields[f] == "" {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, t)
		}
	}
	b.cache[k] = out
	return out
}

// templateFuncs are the functions templates may call.
var templateFuncs = template.FuncMap{
	// list joins the items of a list field with sep: {{list .options "、"}}.
	"list": func(s, sep string) string { return strings.Join(splitList(s), sep) },
	// bullets renders a list field as "- item" lines.
	"bullets": func(s string) string { return prefixLines(splitList(s), func(int) string { return "- " }) },
	// numbered renders a list field as "1. item" lines.
	"numbered": func(s string) string {
		return prefixLines(splitList(s), func(i int) string { return strconv.Itoa(i+1) + ". " })
	},
	// count is the number of items of a list field.
	"count": func(s string) int { return len(splitList(s)) },
	// dialog renders a list of turns alternating between two speakers:
	// {{dialog .history "用户" "助手"}}.
	"dialog": func(s, a, b string) string {
		turns := splitList(s)
		// The last history turn is the other speaker's, so the reply is b's.
		var sb strings.Builder
		for i, t := range turns {
			who := a
			if (len(turns)-1-i)%2 == 1 {
				who = b
			}
			if i > 0 {
				sb.WriteByte('\n')
			}
			sb.WriteString(who)
			sb.WriteString(": ")
			sb.WriteString(t)
		}
		return sb.String()
	},
	// sentences splits prose into sentences and numbers them (a list of
	// points from an answer): {{sentences .content}}.
	"sentences": func(s string) string {
		return prefixLines(splitSentences(s), func(i int) string { return strconv.Itoa(i+1) + ". " })
	},
	// firstsentence is the first sentence of a text.
	"firstsentence": func(s string) string {
		if ss := splitSentences(s); len(ss) > 0 {
			return ss[0]
		}
		return s
	},
	// nsentences is the number of sentences of a text.
	"nsentences": func(s string) int { return len(splitSentences(s)) },
	// chars is the number of characters (runes) of a text.
	"chars": func(s string) int { return utf8.RuneCountInString(s) },
	// words is the number of whitespace-separated words of a text.
	"words": func(s string) int { return len(strings.Fields(s)) },
	// langname names a language code in the given language:
	// {{langname .target_lang "zh"}} → 英文.
	"langname": langName,
	// upper and lower change case.
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	// lines joins the items of a list field one per line.
	"lines": func(s string) string { return strings.Join(splitList(s), "\n") },
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ListSep)
}

func prefixLines(items []string, prefix func(int) string) string {
	var sb strings.Builder
	for i, it := range items {
		if i > 0 {
			sb.WriteByte('\n')
		}
		sb.WriteString(prefix(i))
		sb.WriteString(it)
	}
	return sb.String()
}

// splitSentences splits at Chinese and Latin sentence ends, keeping the
// punctuation.
func splitSentences(s string) []string {
	var out []string
	start := 0
	for i, r := range s {
		switch r {
		case '。', '！', '？', '；', '!', '?', '\n':
			end := i + utf8.RuneLen(r)
			if t := strings.TrimSpace(s[start:end]); t != "" {
				out = append(out, t)
			}
			start = end
		case '.':
			// A Latin full stop ends a sentence when followed by a space.
			if i+1 < len(s) && s[i+1] == ' ' {
				if t := strings.TrimSpace(s[start : i+1]); t != "" {
					out = append(out, t)
				}
				start = i + 1
			}
		}
	}
	if t := strings.TrimSpace(s[start:]); t != "" {
		out = append(out, t)
	}
	return out
}

// joinLines turns a list field into lines (CNN/DailyMail highlights).
func joinLines(s string) string { return strings.ReplaceAll(s, ListSep, "\n") }
