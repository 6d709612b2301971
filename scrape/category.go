package scrape

import (
	_ "embed"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/option"
)

//go:embed categories.yaml
var defaultCategoriesYAML []byte

// CategoryRule tags a row with Category when its question (or title)
// contains one of Keywords (case-insensitive).
type CategoryRule struct {
	Category string   `yaml:"category"`
	Keywords []string `yaml:"keywords"`
}

// Categorizer applies keyword rules in order; the first rule that matches
// wins and rows matching none are "open_qa".
type Categorizer struct {
	Rules []CategoryRule `yaml:"rules"`
}

// LoadCategorizer reads rules from a YAML file, or the built-in zh and en
// defaults (categories.yaml in this package) when path is empty.
func LoadCategorizer(path string) (*Categorizer, error) {
	raw, name := defaultCategoriesYAML, "built-in categories.yaml"
	if path != "" {
		var err error
		if raw, err = os.ReadFile(path); err != nil {
			return nil, option.Errorf("{CategoriesFile}: %w", err)
		}
		name = path
	}
	var c Categorizer
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("category rules %s: %w", name, err)
	}
	for i, r := range c.Rules {
		if !dataset.IsTask(r.Category) {
			return nil, fmt.Errorf("category rules %s: rule %d: category %q is not one of %s", name, i+1, r.Category, strings.Join(dataset.Tasks, ", "))
		}
		for j, k := range r.Keywords {
			c.Rules[i].Keywords[j] = strings.ToLower(k)
		}
	}
	return &c, nil
}

// Categorize returns the category of a row with this question and title.
func (c *Categorizer) Categorize(question, title string) string {
	text := strings.ToLower(question + "\n" + title)
	for _, r := range c.Rules {
		for _, k := range r.Keywords {
			if k != "" && strings.Contains(text, k) {
				return r.Category
			}
		}
	}
	return "open_qa"
}
