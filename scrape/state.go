package scrape

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/rlhf-project/rlhf/option"
)

// The state file holds, in bbolt buckets:
//
//	urls      url -> state byte ('q' queued, 'd' done, 'o' off-site) + depth
//	frontier  8-byte sequence -> url (queued and not yet done, FIFO)
//	ids       row id -> empty (rows already in the dataset)
//	shas      content_sha256 -> empty (exact-duplicate removal)
//	shards    shard file name -> empty (shards whose ids are indexed)
//	meta      "counters" -> JSON Stats counters, "seq" -> last sequence
//
// A page leaves the frontier only in the same transaction that records the
// ids of its rows, and only after those rows were published in a shard, so
// a crash at any point re-fetches at most the pages whose rows were not yet
// durable.
var (
	bucketURLs     = []byte("urls")
	bucketFrontier = []byte("frontier")
	bucketIDs      = []byte("ids")
	bucketSHAs     = []byte("shas")
	bucketShards   = []byte("shards")
	bucketMeta     = []byte("meta")
	keyCounters    = []byte("counters")
	keySeq         = []byte("seq")
	keySite        = []byte("site")
)

const (
	urlQueued  = 'q'
	urlDone    = 'd'
	urlOffsite = 'o'
)

// state is the persistent crawl state.
type state struct {
	db  *bolt.DB
	seq uint64
}

func openState(dir string) (*state, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, option.Errorf("{State} %s: %w", dir, err)
	}
	path := filepath.Join(dir, "crawl.db")
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: 2e9})
	if err != nil {
		return nil, fmt.Errorf("crawl state %s: %w (is another crawl using it?)", path, err)
	}
	s := &state{db: db}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketURLs, bucketFrontier, bucketIDs, bucketSHAs, bucketShards, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if v := tx.Bucket(bucketMeta).Get(keySeq); len(v) == 8 {
			s.seq = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("crawl state %s: %w", path, err)
	}
	return s, nil
}

func (s *state) close() error { return s.db.Close() }

func urlValue(st byte, depth int) []byte {
	v := make([]byte, 5)
	v[0] = st
	binary.BigEndian.PutUint32(v[1:], uint32(depth))
	return v
}

// enqueue queues url at depth unless it is known; it reports whether it was
// new. Call inside an update transaction.
func (s *state) enqueue(tx *bolt.Tx, url string, depth int) (bool, error) {
	urls := tx.Bucket(bucketURLs)
	if urls.Get([]byte(url)) != nil {
		return false, nil
	}
	if err := urls.Put([]byte(url), urlValue(urlQueued, depth)); err != nil {
		return false, err
	}
	s.seq++
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], s.seq)
	if err := tx.Bucket(bucketFrontier).Put(k[:], []byte(url)); err != nil {
		return false, err
	}
	return true, tx.Bucket(bucketMeta).Put(keySeq, k[:])
}

// markOffsite records an off-site link; it reports whether it was new.
func (s *state) markOffsite(tx *bolt.Tx, url string) (bool, error) {
	urls := tx.Bucket(bucketURLs)
	if urls.Get([]byte(url)) != nil {
		return false, nil
	}
	return true, urls.Put([]byte(url), urlValue(urlOffsite, 0))
}

// task is one queued page.
type task struct {
	key   []byte
	url   string
	depth int
}

// nextTasks reads up to n frontier entries after key after (nil: from the
// start).
func (s *state) nextTasks(after []byte, n int) ([]task, error) {
	var out []task
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketFrontier).Cursor()
		urls := tx.Bucket(bucketURLs)
		var k, v []byte
		if after == nil {
			k, v = c.First()
		} else {
			k, v = c.Seek(after)
			if k != nil && string(k) == string(after) {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(out) < n; k, v = c.Next() {
			depth := 0
			if uv := urls.Get(v); len(uv) == 5 {
				depth = int(binary.BigEndian.Uint32(uv[1:]))
			}
			out = append(out, task{key: append([]byte(nil), k...), url: string(v), depth: depth})
		}
		return nil
	})
	return out, err
}

// done removes a page from the frontier. Call inside an update transaction.
func (s *state) done(tx *bolt.Tx, t task) error {
	if err := tx.Bucket(bucketFrontier).Delete(t.key); err != nil {
		return err
	}
	return tx.Bucket(bucketURLs).Put([]byte(t.url), urlValue(urlDone, t.depth))
}

func has(tx *bolt.Tx, bucket []byte, key string) bool {
	return tx.Bucket(bucket).Get([]byte(key)) != nil
}

func put(tx *bolt.Tx, bucket []byte, key string) error {
	return tx.Bucket(bucket).Put([]byte(key), []byte{})
}

func (s *state) loadCounters() (Counters, error) {
	var c Counters
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keyCounters); v != nil {
			return json.Unmarshal(v, &c)
		}
		return nil
	})
	return c, err
}

func saveCounters(tx *bolt.Tx, c Counters) error {
	raw, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketMeta).Put(keyCounters, raw)
}

func (s *state) frontierLen() (n int) {
	s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketFrontier).Stats().KeyN
		return nil
	})
	return n
}

// checkSite records the profile name of a new state and refuses a state made
// with another profile (its done pages would never be parsed again).
func (s *state) checkSite(dir, site string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(bucketMeta)
		if old := m.Get(keySite); old != nil && string(old) != site {
			return option.Errorf("crawl state %s was made with {Site} %s, not %s: use a new {Out} (or {State}) for another profile", dir, old, site)
		}
		return m.Put(keySite, []byte(site))
	})
}
