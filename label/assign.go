package label

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"time"

	"github.com/rlhf-project/rlhf/dataset"
)

// Task is what a labeler is shown: an item with its answers in a
// per-labeler random order, and the labeler's progress.
type Task struct {
	GroupID string `json:"group_id"`
	Prompt  string `json:"prompt"`
	// History is the conversation before the prompt (system message,
	// earlier turns), shown above it; empty for a single-turn prompt.
	History []dataset.Message `json:"history,omitempty"`
	// Lang is the BCP 47 tag of the prompt's and answers' language, for
	// the page's lang attribute (see htmlLang).
	Lang    string   `json:"lang,omitempty"`
	Answers []Answer `json:"answers"`
	// Done is how many items this labeler has ranked; Remaining how many
	// more are waiting for them (this one included).
	Done      int `json:"done"`
	Remaining int `json:"remaining"`
}

// htmlLang is the BCP 47 tag that marks an item's text in the page: zh
// gets its script, zh-Hans (DetectLang's zh is simplified Chinese in the
// datasets here), since a bare zh or the page's en leaves the browser free
// to draw Han characters with Japanese glyph forms; other languages are
// used as they are.
func htmlLang(lang string) string {
	if lang == "zh" {
		return "zh-Hans"
	}
	return lang
}

// hashFrac maps a string to a stable number in [0, 1).
func hashFrac(parts ...string) float64 {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return float64(binary.BigEndian.Uint64(h.Sum(nil))>>11) / (1 << 53)
}

// IsOverlap reports whether an item goes to two labelers at overlap rate
// rate: a stable hash of the group id decides, so raising the rate only
// adds items to the overlap set.
func IsOverlap(groupID string, rate float64) bool {
	return hashFrac("overlap", groupID) < rate
}

// shuffled returns the answers in the order labeler sees them: random, but
// stable for a labeler and item so a reload shows the same order. The
// model names are left out so they cannot sway the labeler.
func shuffled(it *Item, labeler string) []Answer {
	out := make([]Answer, len(it.Answers))
	for i, a := range it.Answers {
		out[i] = Answer{ID: a.ID, Text: a.Text}
	}
	sum := sha256.Sum256([]byte("shuffle\x00" + labeler + "\x00" + it.GroupID))
	r := rand.New(rand.NewPCG(binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:16])))
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// leases are the items handed to labelers, group → labeler → when it was
// handed out, as read from the database (Store.Leases). A lease younger
// than ttl keeps a single-labeler item from others; it ends when its holder
// submits or skips the item.
type leases struct {
	ttl time.Duration
	now time.Time
	m   map[string]map[string]time.Time
}

// live reports whether labeler holds a lease of group younger than ttl.
func (l leases) live(group, labeler string) bool {
	at, ok := l.m[group][labeler]
	return ok && l.now.Sub(at) <= l.ttl
}

// others counts live leases of group held by labelers other than labeler
// who have not ranked it yet.
func (l leases) others(group, labeler string, st *State) int {
	n := 0
	for who := range l.m[group] {
		if who == labeler || !l.live(group, who) {
			continue
		}
		if _, done := st.Active[who][group]; !done {
			n++
		}
	}
	return n
}

// available reports whether item it may be handed to labeler who (not an
// admin): who has neither ranked nor skipped it, and fewer labelers have
// ranked it or hold it than it needs. Gold items go to every labeler,
// overlap items to two, others to one.
func available(it *Item, st *State, who *Labeler, labelers int, overlap float64, ls leases) bool {
	if _, ok := st.Active[who.Name][it.GroupID]; ok {
		return false
	}
	if st.Skipped[who.Name][it.GroupID] {
		return false
	}
	need := 1
	if _, gold := st.Gold[it.GroupID]; gold {
		need = max(labelers, 1)
	} else if IsOverlap(it.GroupID, overlap) {
		need = 2
	}
	have := 0
	for _, act := range st.Active {
		if _, ok := act[it.GroupID]; ok {
			have++
		}
	}
	return have+ls.others(it.GroupID, who.Name, st) < need
}

// nextTask picks the next item for a labeler (see available); items are
// handed out in load order. An admin is given the items that have no gold
// ranking yet that they did not skip. The caller takes the lease of the item
// picked for a labeler (an admin takes none, so an admin looking at items
// keeps no one from them). It returns a task without a group id when
// nothing is left.
func nextTask(items []*Item, st *State, who *Labeler, labelers int, overlap float64, ls leases) *Task {
	var pick *Item
	remaining := 0
	for _, it := range items {
		if who.Role == RoleAdmin {
			if _, ok := st.Gold[it.GroupID]; ok || st.Skipped[who.Name][it.GroupID] {
				continue
			}
		} else if !available(it, st, who, labelers, overlap, ls) {
			continue
		}
		remaining++
		if pick == nil {
			pick = it
		}
	}
	done := len(st.Active[who.Name])
	if who.Role == RoleAdmin {
		done = 0
		for _, g := range st.Gold {
			if g.Labeler == who.Name {
				done++
			}
		}
	}
	if pick == nil {
		return &Task{Done: done}
	}
	return &Task{GroupID: pick.GroupID, Prompt: pick.Prompt, History: pick.History, Lang: htmlLang(pick.Lang), Answers: shuffled(pick, who.Name), Done: done, Remaining: remaining}
}
