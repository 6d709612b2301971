package label

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	_ "modernc.org/sqlite" // pure-Go SQLite driver, registered as "sqlite"

	"github.com/rlhf-project/rlhf/dataset"
	"github.com/rlhf-project/rlhf/option"
)

// Roles of a labeler.
const (
	RoleLabeler = "labeler"
	RoleAdmin   = "admin"
)

// Submission kinds (the kind column of the submissions table).
const (
	KindRank = "rank" // a labeler's ranking of an item
	KindSkip = "skip" // the labeler skipped the item
	KindUndo = "undo" // withdraws the rank or skip row named in Undoes
	KindGold = "gold" // the researchers' reference ranking of an item
)

// SecondsUnknown is the seconds column of a submission whose time per task
// is not known.
const SecondsUnknown = -1

// Flags a labeler may set on an answer.
var Flags = []string{"harmful", "not_following", "made_up_facts"}

// schema is the database layout. Submissions and settings are append-only:
// triggers refuse UPDATE and DELETE, so the history of who submitted what
// and when is never lost. The leases table is the exception: it holds which
// item the server handed to whom and when (so a restart keeps both the hold
// and the time per task), and a lease is deleted when its holder submits or
// skips the item. A later row supersedes an earlier one (an undo row
// withdraws a rank, a later gold row replaces the gold ranking, the latest
// setting wins).
const schema = `
CREATE TABLE IF NOT EXISTS labelers(
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL CHECK(role IN ('labeler','admin')),
  token_sha256 TEXT NOT NULL UNIQUE,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  group_id TEXT NOT NULL UNIQUE,
  prompt TEXT NOT NULL,
  lang TEXT NOT NULL,
  responses TEXT NOT NULL,
  added_at TEXT NOT NULL,
  history TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS submissions(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  labeler TEXT NOT NULL,
  group_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK(kind IN ('rank','skip','undo','gold')),
  ranks TEXT NOT NULL DEFAULT '{}',
  ratings TEXT NOT NULL DEFAULT '{}',
  shown TEXT NOT NULL DEFAULT '[]',
  undoes INTEGER NOT NULL DEFAULT 0,
  seconds REAL NOT NULL DEFAULT 0,
  submitted_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS submissions_group ON submissions(group_id);
CREATE TRIGGER IF NOT EXISTS submissions_no_update BEFORE UPDATE ON submissions
  BEGIN SELECT RAISE(ABORT, 'submissions are append-only'); END;
CREATE TRIGGER IF NOT EXISTS submissions_no_delete BEFORE DELETE ON submissions
  BEGIN SELECT RAISE(ABORT, 'submissions are append-only'); END;
CREATE TABLE IF NOT EXISTS leases(
  group_id TEXT NOT NULL,
  labeler TEXT NOT NULL,
  served_at TEXT NOT NULL,
  PRIMARY KEY(group_id, labeler)
);
CREATE TABLE IF NOT EXISTS settings(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  set_by TEXT NOT NULL,
  set_at TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS settings_no_update BEFORE UPDATE ON settings
  BEGIN SELECT RAISE(ABORT, 'settings are append-only'); END;
`

// Answer is one response of an item.
type Answer struct {
	ID    string `json:"id"`
	Text  string `json:"text"`
	Model string `json:"model,omitempty"`
}

// Item is one prompt with its K answers.
type Item struct {
	Seq     int64    `json:"-"`
	GroupID string   `json:"group_id"`
	Prompt  string   `json:"prompt"`
	Lang    string   `json:"lang"`
	Answers []Answer `json:"answers"`
	// History is the conversation before Prompt (the responses' history
	// column); empty for a single-turn prompt.
	History []dataset.Message `json:"history,omitempty"`
}

// Ranking maps response ids to 1-based ranks; 1 is best, equal ranks are ties.
type Ranking map[string]int

// Rating is a labeler's judgement of one answer besides its rank.
type Rating struct {
	// Quality is the overall quality on a 1-7 scale; 0 when not rated.
	Quality int      `json:"quality,omitempty"`
	Flags   []string `json:"flags,omitempty"`
}

// Submission is one row of the submissions table.
type Submission struct {
	ID      int64             `json:"id"`
	Labeler string            `json:"labeler"`
	GroupID string            `json:"group_id"`
	Kind    string            `json:"kind"`
	Ranks   Ranking           `json:"ranks,omitempty"`
	Ratings map[string]Rating `json:"ratings,omitempty"`
	Shown   []string          `json:"shown,omitempty"`
	Undoes  int64             `json:"undoes,omitempty"`
	// Seconds is the time from hand-out to submit (capped at one hour), or
	// SecondsUnknown when the item was not handed out by the server (an
	// admin's gold ranking).
	Seconds     float64   `json:"seconds,omitempty"`
	SubmittedAt time.Time `json:"submitted_at"`
}

// Labeler is a person allowed to label.
type Labeler struct {
	Name      string
	Role      string
	CreatedAt time.Time
}

// Store is the labelling database. It keeps an in-memory view of items and
// submissions that it refreshes from the database before every read, so
// rows written by another process (e.g. `rlhf label gold` while the server
// runs) are seen. It is safe for concurrent use.
type Store struct {
	db   *sql.DB
	path string

	mu       sync.Mutex
	items    []*Item
	byGroup  map[string]*Item
	subs     []Submission
	lastItem int64
	lastSub  int64
}

// OpenStore opens (creating if needed) the SQLite database at path in WAL
// mode with full synchronous commits, so a committed submission survives a
// crash or kill of the process.
func OpenStore(path string) (*Store, error) {
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open label db %s: %w", path, err)
	}
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("label db %s: create schema: %w", path, err)
	}
	// Databases made before items had a history column get it, empty.
	if _, err := db.Exec(`SELECT history FROM items LIMIT 0`); err != nil {
		if _, err := db.Exec(`ALTER TABLE items ADD COLUMN history TEXT NOT NULL DEFAULT ''`); err != nil {
			db.Close()
			return nil, fmt.Errorf("label db %s: add the history column: %w", path, err)
		}
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		db.Close()
		return nil, fmt.Errorf("label db %s: cannot enable WAL mode (got %q): %v", path, mode, err)
	}
	s := &Store{db: db, path: path, byGroup: map[string]*Item{}}
	if err := s.refresh(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Path is the database file.
func (s *Store) Path() string { return s.path }

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// refresh loads rows added since the last refresh. Callers hold no lock.
func (s *Store) refresh() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshLocked()
}

func (s *Store) refreshLocked() error {
	rows, err := s.db.Query(`SELECT seq, group_id, prompt, lang, responses, history FROM items WHERE seq > ? ORDER BY seq`, s.lastItem)
	if err != nil {
		return fmt.Errorf("label db %s: read items: %w", s.path, err)
	}
	for rows.Next() {
		it := &Item{}
		var resp, history string
		if err := rows.Scan(&it.Seq, &it.GroupID, &it.Prompt, &it.Lang, &resp, &history); err != nil {
			rows.Close()
			return fmt.Errorf("label db %s: read items: %w", s.path, err)
		}
		if err := json.Unmarshal([]byte(resp), &it.Answers); err != nil {
			rows.Close()
			return fmt.Errorf("label db %s: item %s: bad responses column: %w", s.path, it.GroupID, err)
		}
		if it.History, err = dataset.DecodeHistory(history); err != nil {
			rows.Close()
			return fmt.Errorf("label db %s: item %s: bad history column: %w", s.path, it.GroupID, err)
		}
		s.items = append(s.items, it)
		s.byGroup[it.GroupID] = it
		s.lastItem = it.Seq
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = s.db.Query(`SELECT id, labeler, group_id, kind, ranks, ratings, shown, undoes, seconds, submitted_at FROM submissions WHERE id > ? ORDER BY id`, s.lastSub)
	if err != nil {
		return fmt.Errorf("label db %s: read submissions: %w", s.path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var sub Submission
		var ranks, ratings, shown, at string
		if err := rows.Scan(&sub.ID, &sub.Labeler, &sub.GroupID, &sub.Kind, &ranks, &ratings, &shown, &sub.Undoes, &sub.Seconds, &at); err != nil {
			return fmt.Errorf("label db %s: read submissions: %w", s.path, err)
		}
		if err := errors.Join(json.Unmarshal([]byte(ranks), &sub.Ranks), json.Unmarshal([]byte(ratings), &sub.Ratings), json.Unmarshal([]byte(shown), &sub.Shown)); err != nil {
			return fmt.Errorf("label db %s: submission %d: %w", s.path, sub.ID, err)
		}
		sub.SubmittedAt, _ = time.Parse(time.RFC3339Nano, at)
		s.subs = append(s.subs, sub)
		s.lastSub = sub.ID
	}
	return rows.Err()
}

// NewToken returns a fresh random labeler token.
func NewToken() string {
	b := make([]byte, 24)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return "rlhf_" + hex.EncodeToString(b)
}

// hashToken is how tokens are stored. Tokens are 192 random bits, so a
// plain SHA-256 (no salt, no slow KDF) is enough to make a leaked database
// useless for signing in, and it allows lookup by hash.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// validName reports whether a labeler name is acceptable: 1-64 letters,
// digits, '-', '_' or '.'.
func validName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// AddLabeler creates a labeler (or, with rotate, gives an existing one a new
// token) and returns the token, which is stored only as its hash. An empty
// role is a labeler when creating and the labeler's current role when
// rotating.
func (s *Store) AddLabeler(name, role string, rotate bool) (string, error) {
	if !validName(name) {
		return "", fmt.Errorf("labeler name %q: want 1-64 letters, digits, '-', '_' or '.'", name)
	}
	if role != "" && role != RoleLabeler && role != RoleAdmin {
		return "", fmt.Errorf("role %q: want %s or %s", role, RoleLabeler, RoleAdmin)
	}
	token := NewToken()
	var exists int
	if err := s.db.QueryRow(`SELECT count(*) FROM labelers WHERE name = ?`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists > 0 && !rotate {
		return "", option.Errorf("labeler %q already exists in %s (use {Rotate} to issue a new token)", name, s.path)
	}
	if exists > 0 {
		_, err := s.db.Exec(`UPDATE labelers SET token_sha256 = ?, role = coalesce(nullif(?, ''), role) WHERE name = ?`, hashToken(token), role, name)
		return token, err
	}
	if role == "" {
		role = RoleLabeler
	}
	_, err := s.db.Exec(`INSERT INTO labelers(name, role, token_sha256, created_at) VALUES(?,?,?,?)`, name, role, hashToken(token), now())
	return token, err
}

// Authenticate returns the labeler holding token.
func (s *Store) Authenticate(token string) (*Labeler, error) {
	if token == "" {
		return nil, errors.New("no token")
	}
	l := &Labeler{}
	var at string
	err := s.db.QueryRow(`SELECT name, role, created_at FROM labelers WHERE token_sha256 = ?`, hashToken(token)).Scan(&l.Name, &l.Role, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errors.New("unknown token")
	}
	if err != nil {
		return nil, err
	}
	l.CreatedAt, _ = time.Parse(time.RFC3339Nano, at)
	return l, nil
}

// Labelers lists every labeler by name.
func (s *Store) Labelers() ([]Labeler, error) {
	rows, err := s.db.Query(`SELECT name, role, created_at FROM labelers ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Labeler
	for rows.Next() {
		var l Labeler
		var at string
		if err := rows.Scan(&l.Name, &l.Role, &at); err != nil {
			return nil, err
		}
		l.CreatedAt, _ = time.Parse(time.RFC3339Nano, at)
		out = append(out, l)
	}
	return out, rows.Err()
}

// ReadGroups reads response datasets and groups their rows by prompt_id
// into items, in first-seen order. Answer ids are the response ids (a
// content hash when empty); repeated answers are dropped; groups with fewer
// than two answers are left out.
func ReadGroups(ctx context.Context, paths ...string) ([]*Item, error) {
	r, err := dataset.Open[dataset.Response](paths...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	groups := map[string]*Item{}
	var order []string
	err = r.Each(ctx, func(row dataset.Response) error {
		if row.PromptID == "" {
			return fmt.Errorf("%s: response %s has an empty prompt_id", r.Position(), row.ID)
		}
		history, err := dataset.DecodeHistory(row.History)
		if err != nil {
			return fmt.Errorf("%s: %w", r.Position(), err)
		}
		it := groups[row.PromptID]
		if it == nil {
			it = &Item{GroupID: row.PromptID, Prompt: row.Prompt, History: history, Lang: DetectLang(row.Prompt)}
			groups[row.PromptID] = it
			order = append(order, row.PromptID)
		} else if it.Prompt != row.Prompt || dataset.EncodeHistory(it.History) != dataset.EncodeHistory(history) {
			return fmt.Errorf("%s: prompt_id %s has two different prompts (or conversations before them)", r.Position(), row.PromptID)
		}
		id := row.ID
		if id == "" {
			id = dataset.ContentID(row.Key()...)
		}
		dup := false
		for _, a := range it.Answers {
			if a.ID == id || a.Text == row.Response {
				dup = true
			}
		}
		if !dup {
			it.Answers = append(it.Answers, Answer{ID: id, Text: row.Response, Model: row.Model})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []*Item
	for _, gid := range order {
		if len(groups[gid].Answers) >= 2 {
			out = append(out, groups[gid])
		}
	}
	return out, nil
}

// LoadResponses adds the groups of a response dataset (see ReadGroups) as
// items; groups already in the store are kept as they are. It returns how
// many items were added.
func (s *Store) LoadResponses(ctx context.Context, paths ...string) (int, error) {
	items, err := ReadGroups(ctx, paths...)
	if err != nil {
		return 0, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	added := 0
	for _, it := range items {
		raw, _ := json.Marshal(it.Answers)
		res, err := tx.Exec(`INSERT OR IGNORE INTO items(group_id, prompt, lang, responses, added_at, history) VALUES(?,?,?,?,?,?)`, it.GroupID, it.Prompt, it.Lang, string(raw), now(), dataset.EncodeHistory(it.History))
		if err != nil {
			return 0, fmt.Errorf("label db %s: add item %s: %w", s.path, it.GroupID, err)
		}
		n, _ := res.RowsAffected()
		added += int(n)
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return added, s.refresh()
}

// DetectLang returns "zh" when s has at least a third as many Han
// characters as Latin letters, "en" otherwise. Chat markup (role markers such
// as "Human:" and template tokens) does not count (dataset.CountScripts).
func DetectLang(s string) string {
	n := dataset.CountScripts(s)
	if n.Han > 0 && n.Han*3 >= n.Latin {
		return "zh"
	}
	return "en"
}

// Item returns the item of a group.
func (s *Store) Item(groupID string) (*Item, error) {
	if err := s.refresh(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.byGroup[groupID]
	if it == nil {
		return nil, fmt.Errorf("no item with group id %q", groupID)
	}
	return it, nil
}

// Items returns every item in load order.
func (s *Store) Items() ([]*Item, error) {
	if err := s.refresh(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Item(nil), s.items...), nil
}

// CheckRanking validates r against the item's answers: every answer ranked
// once, ranks between 1 and K. It returns the ranking with dense ranks
// (1, 2, 2, 3 for a tie in second place).
func CheckRanking(it *Item, r Ranking) (Ranking, error) {
	if len(r) != len(it.Answers) {
		return nil, fmt.Errorf("group %s: ranking has %d answers, want all %d", it.GroupID, len(r), len(it.Answers))
	}
	for _, a := range it.Answers {
		v, ok := r[a.ID]
		if !ok {
			return nil, fmt.Errorf("group %s: answer %s is not ranked", it.GroupID, a.ID)
		}
		if v < 1 || v > len(it.Answers) {
			return nil, fmt.Errorf("group %s: answer %s has rank %d, want 1..%d", it.GroupID, a.ID, v, len(it.Answers))
		}
	}
	return DenseRanks(r), nil
}

// DenseRanks renumbers ranks to 1, 2, ... keeping order and ties.
func DenseRanks(r Ranking) Ranking {
	vals := map[int]bool{}
	for _, v := range r {
		vals[v] = true
	}
	sorted := make([]int, 0, len(vals))
	for v := range vals {
		sorted = append(sorted, v)
	}
	sort.Ints(sorted)
	pos := map[int]int{}
	for i, v := range sorted {
		pos[v] = i + 1
	}
	out := Ranking{}
	for k, v := range r {
		out[k] = pos[v]
	}
	return out
}

func checkRatings(it *Item, ratings map[string]Rating) error {
	for id, rt := range ratings {
		found := false
		for _, a := range it.Answers {
			found = found || a.ID == id
		}
		if !found {
			return fmt.Errorf("group %s: rating for unknown answer %q", it.GroupID, id)
		}
		if rt.Quality < 0 || rt.Quality > 7 {
			return fmt.Errorf("group %s: answer %s: quality %d, want 1-7 (or 0 for none)", it.GroupID, id, rt.Quality)
		}
		for _, f := range rt.Flags {
			ok := false
			for _, g := range Flags {
				ok = ok || f == g
			}
			if !ok {
				return fmt.Errorf("group %s: answer %s: unknown flag %q, want one of %s", it.GroupID, id, f, strings.Join(Flags, ", "))
			}
		}
	}
	return nil
}

// checkShown validates the order the answers were shown in: empty (not
// recorded) or every answer id of the item exactly once.
func checkShown(it *Item, shown []string) error {
	if len(shown) == 0 {
		return nil
	}
	want := fmt.Sprintf("want each of the %d answer ids of the item once, in the order shown", len(it.Answers))
	if len(shown) != len(it.Answers) {
		return fmt.Errorf("group %s: shown lists %d answers, %s", it.GroupID, len(shown), want)
	}
	seen := map[string]bool{}
	for _, id := range shown {
		known := false
		for _, a := range it.Answers {
			known = known || a.ID == id
		}
		if !known {
			return fmt.Errorf("group %s: shown lists unknown answer %q, %s", it.GroupID, id, want)
		}
		if seen[id] {
			return fmt.Errorf("group %s: shown lists answer %s twice, %s", it.GroupID, id, want)
		}
		seen[id] = true
	}
	return nil
}

// Append validates and appends one submission; it returns the row id. The
// row is committed (and, in WAL mode with synchronous=FULL, durable) when
// Append returns.
func (s *Store) Append(sub Submission) (int64, error) {
	switch sub.Kind {
	case KindRank, KindGold:
		it, err := s.Item(sub.GroupID)
		if err != nil {
			return 0, err
		}
		if sub.Ranks, err = CheckRanking(it, sub.Ranks); err != nil {
			return 0, err
		}
		if err := checkRatings(it, sub.Ratings); err != nil {
			return 0, err
		}
		if err := checkShown(it, sub.Shown); err != nil {
			return 0, err
		}
	case KindSkip:
		if _, err := s.Item(sub.GroupID); err != nil {
			return 0, err
		}
	case KindUndo:
		if sub.Undoes <= 0 {
			return 0, errors.New("undo row names no submission")
		}
	default:
		return 0, fmt.Errorf("unknown submission kind %q", sub.Kind)
	}
	if sub.Ranks == nil {
		sub.Ranks = Ranking{}
	}
	if sub.Ratings == nil {
		sub.Ratings = map[string]Rating{}
	}
	if sub.Shown == nil {
		sub.Shown = []string{}
	}
	ranks, _ := json.Marshal(sub.Ranks)
	ratings, _ := json.Marshal(sub.Ratings)
	shown, _ := json.Marshal(sub.Shown)
	res, err := s.db.Exec(`INSERT INTO submissions(labeler, group_id, kind, ranks, ratings, shown, undoes, seconds, submitted_at) VALUES(?,?,?,?,?,?,?,?,?)`,
		sub.Labeler, sub.GroupID, sub.Kind, string(ranks), string(ratings), string(shown), sub.Undoes, sub.Seconds, now())
	if err != nil {
		return 0, fmt.Errorf("label db %s: append submission: %w", s.path, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	return id, s.refresh()
}

// Submissions returns every submission row in id order.
func (s *Store) Submissions() ([]Submission, error) {
	if err := s.refresh(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Submission(nil), s.subs...), nil
}

// Leases returns when each item was handed to each labeler (group →
// labeler → time), from the leases table.
func (s *Store) Leases() (map[string]map[string]time.Time, error) {
	rows, err := s.db.Query(`SELECT group_id, labeler, served_at FROM leases`)
	if err != nil {
		return nil, fmt.Errorf("label db %s: read leases: %w", s.path, err)
	}
	defer rows.Close()
	out := map[string]map[string]time.Time{}
	for rows.Next() {
		var g, l, at string
		if err := rows.Scan(&g, &l, &at); err != nil {
			return nil, fmt.Errorf("label db %s: read leases: %w", s.path, err)
		}
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			return nil, fmt.Errorf("label db %s: lease of %s by %s: bad served_at %q: %w", s.path, g, l, at, err)
		}
		if out[g] == nil {
			out[g] = map[string]time.Time{}
		}
		out[g][l] = t
	}
	return out, rows.Err()
}

// TakeLease records that group was handed to labeler at time at (replacing
// an earlier lease of the same item by the same labeler).
func (s *Store) TakeLease(group, labeler string, at time.Time) error {
	_, err := s.db.Exec(`INSERT INTO leases(group_id, labeler, served_at) VALUES(?,?,?) ON CONFLICT(group_id, labeler) DO UPDATE SET served_at = excluded.served_at`,
		group, labeler, at.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return fmt.Errorf("label db %s: lease %s to %s: %w", s.path, group, labeler, err)
	}
	return nil
}

// ReleaseLease ends labeler's lease of group, if any.
func (s *Store) ReleaseLease(group, labeler string) error {
	if _, err := s.db.Exec(`DELETE FROM leases WHERE group_id = ? AND labeler = ?`, group, labeler); err != nil {
		return fmt.Errorf("label db %s: release lease of %s by %s: %w", s.path, group, labeler, err)
	}
	return nil
}

// SetSetting appends a setting value; the latest value of a key wins.
func (s *Store) SetSetting(key, value, by string) error {
	_, err := s.db.Exec(`INSERT INTO settings(key, value, set_by, set_at) VALUES(?,?,?,?)`, key, value, by, now())
	return err
}

// Setting returns the latest value of key, or def when it was never set.
func (s *Store) Setting(key, def string) (string, error) {
	var v string
	err := s.db.QueryRow(`SELECT value FROM settings WHERE key = ? ORDER BY id DESC LIMIT 1`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return def, nil
	}
	return v, err
}

// Setting keys.
const (
	// SettingOverlap is the share (0-1) of items that go to two labelers.
	SettingOverlap = "overlap"
)

// OverlapRate returns the overlap setting (default 0).
func (s *Store) OverlapRate() (float64, error) {
	v, err := s.Setting(SettingOverlap, "0")
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(v, 64)
}

// SetOverlapRate records a new overlap rate.
func (s *Store) SetOverlapRate(rate float64, by string) error {
	if rate < 0 || rate > 1 {
		return fmt.Errorf("overlap rate %g: want a share between 0 and 1", rate)
	}
	return s.SetSetting(SettingOverlap, strconv.FormatFloat(rate, 'g', -1, 64), by)
}

// State is the current view derived from the append-only submissions.
type State struct {
	// Active holds each labeler's current ranking of each group
	// (labeler → group → submission), undone rows removed.
	Active map[string]map[string]Submission
	// Skipped holds the groups each labeler skipped and did not undo.
	Skipped map[string]map[string]bool
	// Gold is the latest gold ranking of each group.
	Gold map[string]Submission
	// History is each labeler's rank, skip and gold rows still in effect,
	// oldest first (what undo walks back).
	History map[string][]Submission
}

// State derives the current view from all submissions.
func (s *Store) State() (*State, error) {
	subs, err := s.Submissions()
	if err != nil {
		return nil, err
	}
	return deriveState(subs), nil
}

func deriveState(subs []Submission) *State {
	st := &State{Active: map[string]map[string]Submission{}, Skipped: map[string]map[string]bool{}, Gold: map[string]Submission{}, History: map[string][]Submission{}}
	byID := map[int64]Submission{}
	gold := map[string][]Submission{} // group → gold rows in effect, oldest first
	// A labeler's later rank (or gold) row of a group supersedes their
	// earlier one, which leaves the history: undoing the later row then
	// leaves the item unranked rather than bringing a duplicate back.
	same := func(sub Submission) func(Submission) bool {
		return func(x Submission) bool {
			return x.Kind == sub.Kind && x.Labeler == sub.Labeler && x.GroupID == sub.GroupID
		}
	}
	for _, sub := range subs {
		byID[sub.ID] = sub
		switch sub.Kind {
		case KindGold:
			st.Gold[sub.GroupID] = sub
			gold[sub.GroupID] = append(slices.DeleteFunc(gold[sub.GroupID], same(sub)), sub)
			st.History[sub.Labeler] = append(slices.DeleteFunc(st.History[sub.Labeler], same(sub)), sub)
		case KindRank:
			if st.Active[sub.Labeler] == nil {
				st.Active[sub.Labeler] = map[string]Submission{}
			}
			st.Active[sub.Labeler][sub.GroupID] = sub
			st.History[sub.Labeler] = append(slices.DeleteFunc(st.History[sub.Labeler], same(sub)), sub)
		case KindSkip:
			if st.Skipped[sub.Labeler] == nil {
				st.Skipped[sub.Labeler] = map[string]bool{}
			}
			st.Skipped[sub.Labeler][sub.GroupID] = true
			st.History[sub.Labeler] = append(st.History[sub.Labeler], sub)
		case KindUndo:
			old, ok := byID[sub.Undoes]
			if !ok || old.Labeler != sub.Labeler {
				continue
			}
			h := st.History[sub.Labeler]
			for i := len(h) - 1; i >= 0; i-- {
				if h[i].ID == old.ID {
					st.History[sub.Labeler] = append(h[:i:i], h[i+1:]...)
					break
				}
			}
			switch old.Kind {
			case KindRank:
				if cur, ok := st.Active[old.Labeler][old.GroupID]; ok && cur.ID == old.ID {
					delete(st.Active[old.Labeler], old.GroupID)
				}
			case KindSkip:
				delete(st.Skipped[old.Labeler], old.GroupID)
			case KindGold:
				// The gold ranking it replaced, if any, is in effect again.
				g := slices.DeleteFunc(gold[old.GroupID], func(x Submission) bool { return x.ID == old.ID })
				gold[old.GroupID] = g
				if len(g) > 0 {
					st.Gold[old.GroupID] = g[len(g)-1]
				} else {
					delete(st.Gold, old.GroupID)
				}
			}
		}
	}
	return st
}
