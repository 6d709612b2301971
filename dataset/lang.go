package dataset

import (
	"regexp"
	"unicode"
)

// Scripts counts the letters of a text by script.
type Scripts struct {
	Han   int // Han characters (CJK ideographs)
	Latin int // Latin letters, ASCII or not
	Other int // letters of any other script (Cyrillic, kana, Hangul...)
}

// chatMarkup matches what chat data adds around its text: chat-template
// tokens (ChatML <|im_start|>user, Llama-3 <|start_header_id|>…, Mistral
// [INST] and <<SYS>>, Gemma <start_of_turn>model, <s>, <bos>…), with the
// role name that follows a turn opener, role markers ending in a colon
// (Human:, Assistant:, User:, System:, ### Instruction:…), whatever their case.
var chatMarkup = regexp.MustCompile(`(?i)` +
	`(?:<\|im_start\|>|<start_of_turn>|<\|start_header_id\|>)[ \t]*[a-z_]*` +
	`|<\|[^|<>\s]{1,64}\|>` +
	`|<</?SYS>>|\[/?INST\]` +
	`|</?(?:s|bos|eos|pad|unk|start_of_turn|end_of_turn)>` +
	`|\b(?:human|assistant|user|system|bot|gpt|model|tool|instruction|input|response|output)[ \t]*:`)

// CountScripts counts the letters of s by script, for telling languages
// apart by what the text is written in. Chat markup (chatMarkup: role
// markers and template tokens), digits, punctuation and symbols do not
// count, so that the "Human:"/"Assistant:" of a short Chinese conversation
// do not make it Latin.
func CountScripts(s string) Scripts {
	var n Scripts
	s = chatMarkup.ReplaceAllLiteralString(s, " ")
	for _, r := range s {
		switch {
		case r < 0x80:
			if (r|0x20) >= 'a' && (r|0x20) <= 'z' {
				n.Latin++
			}
		case unicode.Is(unicode.Han, r):
			n.Han++
		case unicode.IsLetter(r):
			if unicode.Is(unicode.Latin, r) {
				n.Latin++
			} else {
				n.Other++
			}
		}
	}
	return n
}
