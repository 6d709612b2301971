package label

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"time"
)

// Task is what a labeler is shown: an item with its answers in a
// per-labeler random order, and the labeler's progress.
type Task struct {
	GroupID string   `json:"group_id"`
	Prompt  string   `json:"prompt"`
	Answers []Answer `json:"answers"`
	// Done is how many items this labeler has ranked; Remaining how many
	// more are waiting for them (this one included).
	Done      int `json:"done"`
	Remaining int `json:"remaining"`
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

// leases remembers which items were handed to whom recently, so two
// labelers working at once are not given the same single-labeler item.
type leases struct {
	mu  sync.Mutex
	ttl time.Duration
	m   map[string]map[string]time.Time // group → labeler → handed out at
}

func newLeases(ttl time.Duration) *leases {
	return &leases{ttl: ttl, m: map[string]map[string]time.Time{}}
}

func (l *leases) take(group, labeler string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m[group] == nil {
		l.m[group] = map[string]time.Time{}
	}
	l.m[group][labeler] = time.Now()
}

// others counts live leases of group held by labelers other than labeler
// who have not ranked it yet.
func (l *leases) others(group, labeler string, st *State) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for who, at := range l.m[group] {
		if who == labeler || time.Since(at) > l.ttl {
			continue
		}
		if _, done := st.Active[who][group]; !done {
			n++
		}
	}
	return n
}

// nextTask picks the next item for a labeler. Gold items go to every
// labeler (to measure their agreement with gold), overlap items to two,
// others to one; items are handed out in load order. An admin is given the
// items that have no gold ranking yet. It returns nil when nothing is left.
func nextTask(items []*Item, st *State, who *Labeler, labelers int, overlap float64, ls *leases) *Task {
	var pick *Item
	remaining := 0
	for _, it := range items {
		if who.Role == RoleAdmin {
			if _, ok := st.Gold[it.GroupID]; ok {
				continue
			}
		} else {
			if _, ok := st.Active[who.Name][it.GroupID]; ok {
				continue
			}
			if st.Skipped[who.Name][it.GroupID] {
				continue
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
			if have+ls.others(it.GroupID, who.Name, st) >= need {
				continue
			}
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
	ls.take(pick.GroupID, who.Name)
	return &Task{GroupID: pick.GroupID, Prompt: pick.Prompt, Answers: shuffled(pick, who.Name), Done: done, Remaining: remaining}
}

// since is the time in seconds since group was handed to labeler, capped at
// one hour (a task left open over lunch says nothing about its difficulty);
// 0 when it was never handed out by this server process.
func (l *leases) since(group, labeler string) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	at, ok := l.m[group][labeler]
	if !ok {
		return 0
	}
	return min(time.Since(at).Seconds(), 3600)
}
