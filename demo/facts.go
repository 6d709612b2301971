package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
)

// The demo's learnable task: short questions about everyday facts (capitals,
// animals, colours), answered in one sentence, as an Alpaca-style
// instruction file that build-prompts reads like any public instruction set.
//
// The demonstrations are written the way a team of labellers would write
// them: every answer states the fact, and some writers (politeShare of them)
// end with a friendly closing line. The demo's gold judge (pipeline.yaml:
// --gold-fn recall plus the regex of its `polite` variable) prefers answers
// that state the reference's fact and end politely, so the RM has a
// preference to learn from the comparisons that the SFT model shows only
// sometimes, and PPO has something to improve that a person can see.

// politeShare is the share of demonstrations that end with a closing line.
const politeShare = 0.3

// closings are the polite closing lines of the demonstrations.
var closings = []string{"Hope this helps!", "Happy to help!", "Thank you for asking!"}

type fact struct {
	category  string
	questions []string
	answer    string
}

var countries = [][4]string{
	// country, capital, continent, language
	{"France", "Paris", "Europe", "French"}, {"Spain", "Madrid", "Europe", "Spanish"},
	{"Italy", "Rome", "Europe", "Italian"}, {"Germany", "Berlin", "Europe", "German"},
	{"Japan", "Tokyo", "Asia", "Japanese"}, {"China", "Beijing", "Asia", "Chinese"},
	{"Egypt", "Cairo", "Africa", "Arabic"}, {"Brazil", "Brasilia", "South America", "Portuguese"},
	{"Mexico", "Mexico City", "North America", "Spanish"}, {"Canada", "Ottawa", "North America", "English"},
	{"Kenya", "Nairobi", "Africa", "Swahili"}, {"Russia", "Moscow", "Europe", "Russian"},
	{"India", "New Delhi", "Asia", "Hindi"}, {"Greece", "Athens", "Europe", "Greek"},
	{"Portugal", "Lisbon", "Europe", "Portuguese"}, {"Peru", "Lima", "South America", "Spanish"},
	{"Chile", "Santiago", "South America", "Spanish"}, {"Norway", "Oslo", "Europe", "Norwegian"},
	{"Sweden", "Stockholm", "Europe", "Swedish"}, {"Poland", "Warsaw", "Europe", "Polish"},
	{"Turkey", "Ankara", "Asia", "Turkish"}, {"Thailand", "Bangkok", "Asia", "Thai"},
	{"Vietnam", "Hanoi", "Asia", "Vietnamese"}, {"Korea", "Seoul", "Asia", "Korean"},
	{"Argentina", "Buenos Aires", "South America", "Spanish"}, {"Australia", "Canberra", "Oceania", "English"},
	{"Ireland", "Dublin", "Europe", "English"}, {"Austria", "Vienna", "Europe", "German"},
	{"the Netherlands", "Amsterdam", "Europe", "Dutch"}, {"Finland", "Helsinki", "Europe", "Finnish"},
	{"Cuba", "Havana", "North America", "Spanish"}, {"Morocco", "Rabat", "Africa", "Arabic"},
	{"Nigeria", "Abuja", "Africa", "English"}, {"Iran", "Tehran", "Asia", "Persian"},
	{"Hungary", "Budapest", "Europe", "Hungarian"}, {"Denmark", "Copenhagen", "Europe", "Danish"},
	{"Colombia", "Bogota", "South America", "Spanish"}, {"Ethiopia", "Addis Ababa", "Africa", "Amharic"},
	{"Ukraine", "Kyiv", "Europe", "Ukrainian"}, {"Czechia", "Prague", "Europe", "Czech"},
}

var animals = [][5]string{
	// animal, sound, legs, home, food
	{"cow", "moos", "four", "on a farm", "grass"}, {"dog", "barks", "four", "in a house", "meat"},
	{"cat", "meows", "four", "in a house", "fish"}, {"duck", "quacks", "two", "on a pond", "seeds"},
	{"sheep", "baas", "four", "on a farm", "grass"}, {"horse", "neighs", "four", "in a stable", "hay"},
	{"pig", "oinks", "four", "on a farm", "scraps"}, {"lion", "roars", "four", "on the savanna", "meat"},
	{"owl", "hoots", "two", "in a forest", "mice"}, {"frog", "croaks", "four", "in a pond", "insects"},
	{"bee", "buzzes", "six", "in a hive", "nectar"}, {"snake", "hisses", "no", "in the grass", "mice"},
	{"wolf", "howls", "four", "in a forest", "meat"}, {"goat", "bleats", "four", "on a farm", "leaves"},
	{"hen", "clucks", "two", "in a coop", "grain"}, {"donkey", "brays", "four", "on a farm", "hay"},
	{"mouse", "squeaks", "four", "in a hole", "cheese"}, {"crow", "caws", "two", "in a tree", "seeds"},
	{"bear", "growls", "four", "in a cave", "berries"}, {"elephant", "trumpets", "four", "on the savanna", "leaves"},
	{"monkey", "chatters", "four", "in a jungle", "bananas"}, {"goose", "honks", "two", "on a lake", "grass"},
	{"dove", "coos", "two", "in a tree", "seeds"}, {"cricket", "chirps", "six", "in the grass", "leaves"},
}

var colours = [][2]string{
	{"lemon", "yellow"}, {"banana", "yellow"}, {"lime", "green"}, {"cherry", "red"},
	{"strawberry", "red"}, {"blueberry", "blue"}, {"carrot", "orange"}, {"tomato", "red"},
	{"cucumber", "green"}, {"plum", "purple"}, {"eggplant", "purple"}, {"pumpkin", "orange"},
	{"grape", "purple"}, {"pea", "green"}, {"coconut", "brown"}, {"potato", "brown"},
	{"raspberry", "red"}, {"corn cob", "yellow"}, {"broccoli", "green"}, {"chestnut", "brown"},
	{"cabbage", "green"}, {"peach", "orange"}, {"beetroot", "purple"}, {"walnut", "brown"},
}

// facts lists every question of the task with its one-sentence answer.
func facts() []fact {
	var fs []fact
	for _, c := range countries {
		country, capital, continent, lang := c[0], c[1], c[2], c[3]
		fs = append(fs,
			fact{"open_qa", []string{"What is the capital of " + country + "?", "Which city is the capital of " + country + "?", "Name the capital city of " + country + "."},
				"The capital of " + country + " is " + capital + "."},
			fact{"open_qa", []string{"On which continent is " + country + "?", "Where in the world is " + country + "?", "Which continent is " + country + " part of?"},
				upperFirst(country) + " is in " + continent + "."},
			fact{"open_qa", []string{"What language do people speak in " + country + "?", "Which language is spoken in " + country + "?", "What is the main language of " + country + "?"},
				"People in " + country + " speak " + lang + "."},
		)
	}
	for _, a := range animals {
		animal, sound, legs, home, food := a[0], a[1], a[2], a[3], a[4]
		fs = append(fs,
			fact{"open_qa", []string{"What sound does a " + animal + " make?", "How does a " + animal + " sound?", "What noise does a " + animal + " make?"},
				"A " + animal + " " + sound + "."},
			fact{"open_qa", []string{"How many legs does a " + animal + " have?", "Count the legs of a " + animal + ".", "How many legs has a " + animal + " got?"},
				"A " + animal + " has " + legs + " legs."},
			fact{"open_qa", []string{"Where does a " + animal + " live?", "Where can you find a " + animal + "?", "Where is the home of a " + animal + "?"},
				"A " + animal + " lives " + home + "."},
			fact{"open_qa", []string{"What does a " + animal + " eat?", "What food does a " + animal + " like?", "What is the favourite food of a " + animal + "?"},
				"A " + animal + " eats " + food + "."},
		)
	}
	for _, c := range colours {
		thing, colour := c[0], c[1]
		fs = append(fs,
			fact{"open_qa", []string{"What colour is a " + thing + "?", "Which colour does a ripe " + thing + " have?", "Tell me the colour of a ripe " + thing + "."},
				"A ripe " + thing + " is " + colour + "."},
		)
	}
	return fs
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// factsJSONL renders the task as instruction JSONL: one row per question,
// a politeShare of the answers (chosen by seed) ending with a closing line.
func factsJSONL(seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	for _, f := range facts() {
		for _, q := range f.questions {
			ans := f.answer
			if rng.Float64() < politeShare {
				ans += " " + closings[rng.IntN(len(closings))]
			}
			row := map[string]string{"instruction": q, "input": "", "output": ans, "category": f.category}
			if err := enc.Encode(row); err != nil {
				panic(fmt.Sprintf("demo facts: %v", err)) // maps of strings always encode
			}
		}
	}
	return b.Bytes()
}
