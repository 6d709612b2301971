package prompts

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Near-duplicate detection is MinHash with banded LSH, written here (about
// a hundred lines) rather than taken from a library because the shingling
// must differ by language (character n-grams for Chinese, word n-grams for
// English) and the hashing must be seeded and stable across runs for
// byte-identical output.
const (
	// minhashPerms is the signature length (number of hash functions).
	minhashPerms = 64
	// lshBands × lshRows = minhashPerms. With 16 bands of 4 rows a pair with
	// Jaccard 0.7 becomes a candidate with probability 1-(1-0.7^4)^16 ≈ 0.99
	// and one with Jaccard 0.3 with probability ≈ 0.12; candidates are then
	// checked against the threshold on the full signature.
	lshBands = 16
	lshRows  = 4
	// ZhShingle is the character n-gram size for Chinese text (bigrams: a
	// lightly edited 60-character sentence keeps a Jaccard of about 0.78,
	// against 0.68 with trigrams); EnShingle the word n-gram size for English.
	ZhShingle = 2
	EnShingle = 2
)

// signature is a MinHash signature.
type signature [minhashPerms]uint32

// fnv64 is FNV-1a over a string.
func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix64 is the splitmix64 finaliser: a good bijective 64-bit mixer.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// shingles returns the hashes of the n-grams of text: characters for zh
// (punctuation and spaces removed), lower-cased words for en.
func shingles(text, lang string) []uint64 {
	var units []string
	if lang == "zh" {
		for _, r := range text {
			if unicode.IsLetter(r) || unicode.IsNumber(r) {
				units = append(units, string(r))
			}
		}
	} else {
		units = strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsNumber(r) && r != '\''
		})
	}
	n := EnShingle
	if lang == "zh" {
		n = ZhShingle
	}
	if len(units) < n {
		if len(units) == 0 {
			return nil
		}
		return []uint64{fnv64(strings.Join(units, "\x00"))}
	}
	out := make([]uint64, 0, len(units)-n+1)
	for i := 0; i+n <= len(units); i++ {
		h := uint64(14695981039346656037)
		for _, u := range units[i : i+n] {
			for j := 0; j < len(u); j++ {
				h ^= uint64(u[j])
				h *= 1099511628211
			}
			h ^= 0
			h *= 1099511628211
		}
		out = append(out, h)
	}
	return out
}

// minhash computes the signature of a set of shingle hashes.
func minhash(sh []uint64) signature {
	var sig signature
	for i := range sig {
		sig[i] = ^uint32(0)
	}
	for _, h := range sh {
		x := mix64(h)
		for i := range sig {
			// Derive the i-th hash function cheaply from one strong hash.
			v := uint32(mix64(x+uint64(i)*0x9e3779b97f4a7c15) >> 32)
			if v < sig[i] {
				sig[i] = v
			}
		}
	}
	return sig
}

// similarity estimates the Jaccard similarity of two signatures.
func (s *signature) similarity(o *signature) float64 {
	eq := 0
	for i := range s {
		if s[i] == o[i] {
			eq++
		}
	}
	return float64(eq) / minhashPerms
}

// nearDupIndex finds near-duplicates among the texts added to it.
type nearDupIndex struct {
	threshold float64
	buckets   [lshBands]map[uint64][]int32
	sigs      []signature
}

func newNearDupIndex(threshold float64) *nearDupIndex {
	ix := &nearDupIndex{threshold: threshold}
	for b := range ix.buckets {
		ix.buckets[b] = map[uint64][]int32{}
	}
	return ix
}

// addIfNew returns false when text is a near-duplicate (estimated Jaccard
// of its shingles ≥ threshold) of a text added before; otherwise it adds
// text and returns true.
func (ix *nearDupIndex) addIfNew(text, lang string) bool {
	_, added := ix.match(text, lang)
	return added
}

// match is addIfNew that also returns the id of the text matched (added
// false) or of text itself (added true; -1 for a text with no shingles,
// which is not added). Ids count the texts added, from 0.
func (ix *nearDupIndex) match(text, lang string) (id int, added bool) {
	sh := shingles(text, lang)
	if len(sh) == 0 {
		return -1, true
	}
	sig := minhash(sh)
	var keys [lshBands]uint64
	for b := range keys {
		h := uint64(b + 1)
		for _, v := range sig[b*lshRows : (b+1)*lshRows] {
			h = mix64(h ^ uint64(v))
		}
		keys[b] = h
		for _, j := range ix.buckets[b][h] {
			if sig.similarity(&ix.sigs[j]) >= ix.threshold {
				return int(j), false
			}
		}
	}
	n := int32(len(ix.sigs))
	ix.sigs = append(ix.sigs, sig)
	for b, h := range keys {
		ix.buckets[b][h] = append(ix.buckets[b][h], n)
	}
	return int(n), true
}

// dedupText is the text compared for near-duplicates: the content fields of
// an Example, without the fields that are shared by many rows (label options,
// language codes, translated entity type names) or repeat another field.
func dedupText(fields map[string]string, names []string) string {
	var sb strings.Builder
	for _, k := range names {
		switch k {
		case "options", "lang", "source_lang", "target_lang", "entity_type_zh", "entity_type_en", "label", "topic", "title", "content":
			continue
		}
		if v := fields[k]; v != "" {
			if sb.Len() > 0 {
				sb.WriteByte('\n')
			}
			sb.WriteString(v)
		}
	}
	return sb.String()
}

// runeLen counts runes.
func runeLen(s string) int { return utf8.RuneCountInString(s) }
