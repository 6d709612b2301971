package dataset

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/rlhf-project/rlhf/atomicfile"
)

// ManifestName is the file that marks a dataset directory as complete.
const ManifestName = "_manifest.json"

// Manifest describes a complete dataset directory.
type Manifest struct {
	Kind          Kind        `json:"kind"`
	SchemaVersion int         `json:"schema_version"`
	Rows          int64       `json:"rows"`
	Shards        []ShardInfo `json:"shards"`
	Command       []string    `json:"command"`
	Producer      string      `json:"producer"`
	CreatedAt     time.Time   `json:"created_at"`
	// Meta holds free-form facts a producing step wants to keep with the
	// data (e.g. a split name, a seed).
	Meta map[string]string `json:"meta,omitempty"`
}

// ShardInfo describes one shard file of a dataset.
type ShardInfo struct {
	File   string `json:"file"`
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// ErrIncomplete is wrapped by errors about directories without a manifest.
var ErrIncomplete = errors.New("incomplete dataset")

// ReadManifest reads and checks DIR/_manifest.json.
func ReadManifest(dir string) (*Manifest, error) {
	path := filepath.Join(dir, ManifestName)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if st, serr := os.Stat(dir); serr != nil || !st.IsDir() {
			return nil, fmt.Errorf("dataset %s: no such directory", dir)
		}
		return nil, fmt.Errorf("%w: %s has no %s: was the producing command interrupted?", ErrIncomplete, dir, ManifestName)
	}
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", dir, err)
	}
	var m Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s: not a valid manifest: %w", path, err)
	}
	if m.Kind == "" {
		return nil, fmt.Errorf("%s: manifest has no kind", path)
	}
	if m.SchemaVersion > SchemaVersion {
		return nil, fmt.Errorf("%s: schema version %d is newer than this rlhf understands (%d)", path, m.SchemaVersion, SchemaVersion)
	}
	return &m, nil
}

// WriteManifest writes m to DIR/_manifest.json atomically.
func WriteManifest(dir string, m *Manifest) error {
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, ManifestName), append(raw, '\n'), 0o644)
}

// IsComplete reports whether dir holds a dataset with a manifest.
func IsComplete(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, ManifestName))
	return err == nil
}
