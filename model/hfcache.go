package model

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// repoIDPattern is a Hugging Face model id ORG/NAME, with an optional
// @REVISION (a branch, tag or commit hash).
var repoIDPattern = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9_.-]*)/([A-Za-z0-9][A-Za-z0-9_.-]*)(?:@([A-Za-z0-9_.][A-Za-z0-9_./-]*))?$`)

// HubCacheDir is the Hugging Face hub cache as huggingface_hub finds it:
// $HF_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub,
// else ~/.cache/huggingface/hub.
func HubCacheDir() string {
	if d := os.Getenv("HF_HUB_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("HF_HOME"); d != "" {
		return filepath.Join(d, "hub")
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "huggingface", "hub")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".cache", "huggingface", "hub")
	}
	return filepath.Join(home, ".cache", "huggingface", "hub")
}

// ResolveDir turns a model name into a folder. A path that exists is
// returned as it is; so is anything that does not look like a hub id, so
// that the caller says what is missing. ORG/NAME[@REVISION] is looked up,
// offline, in the Hugging Face hub cache (HubCacheDir):
// models--ORG--NAME/snapshots/HASH, where refs/REVISION (default main)
// holds HASH, or REVISION is HASH itself. Nothing is downloaded; a model
// that is not there is an error that says how to download it.
func ResolveDir(name string) (string, error) {
	if name == "" {
		return name, nil
	}
	if _, err := os.Lstat(name); err == nil {
		return name, nil
	}
	m := repoIDPattern.FindStringSubmatch(name)
	if m == nil || strings.Contains(name, "..") || strings.Contains(m[1]+"/"+m[2], "--") {
		return name, nil
	}
	id, rev := m[1]+"/"+m[2], m[3]
	download := "huggingface-cli download " + id
	if rev != "" && rev != "main" {
		download += " --revision " + rev
	}
	if rev == "" {
		rev = "main"
	}
	cache := HubCacheDir()
	repo := filepath.Join(cache, "models--"+m[1]+"--"+m[2])
	if _, err := os.Stat(repo); err != nil {
		return "", fmt.Errorf("%s: not a local folder, nor a model in the Hugging Face cache (no %s; the cache is $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub); download it with `%s` (rlhf fetches nothing)",
			name, repo, download)
	}
	snapshots := filepath.Join(repo, "snapshots")
	hash := rev
	if b, err := os.ReadFile(filepath.Join(repo, "refs", filepath.FromSlash(rev))); err == nil {
		hash = strings.TrimSpace(string(b))
		if hash == "" || strings.ContainsAny(hash, `/\`) || hash == "." || hash == ".." {
			return "", fmt.Errorf("%s: %s does not hold a commit hash; download the model again with `%s`",
				name, filepath.Join(repo, "refs", rev), download)
		}
		if _, err := os.Stat(filepath.Join(snapshots, hash)); err != nil {
			return "", fmt.Errorf("%s: refs/%s names snapshot %s, which is not in %s; download the model again with `%s`",
				name, rev, hash, snapshots, download)
		}
		return filepath.Join(snapshots, hash), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	if !strings.Contains(rev, "/") {
		if _, err := os.Stat(filepath.Join(snapshots, rev)); err == nil {
			return filepath.Join(snapshots, rev), nil
		}
	}
	return "", fmt.Errorf("%s: revision %s is not in the Hugging Face cache at %s (cached: %s); download it with `%s`",
		name, rev, repo, cachedRevisions(repo), download)
}

// cachedRevisions lists the refs and snapshot hashes of a cached repo.
func cachedRevisions(repo string) string {
	var revs []string
	filepath.WalkDir(filepath.Join(repo, "refs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if r, err := filepath.Rel(filepath.Join(repo, "refs"), p); err == nil {
				revs = append(revs, filepath.ToSlash(r))
			}
		}
		return nil
	})
	if entries, err := os.ReadDir(filepath.Join(repo, "snapshots")); err == nil {
		for _, e := range entries {
			revs = append(revs, e.Name())
		}
	}
	if len(revs) == 0 {
		return "none"
	}
	slices.Sort(revs)
	return strings.Join(revs, ", ")
}
