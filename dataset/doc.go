// Package dataset holds the record types that flow between rlhf's steps and
// the Parquet shard contract they are stored in. It knows nothing about
// tensors or models.
//
// A dataset is a directory:
//
//	part-00000.parquet
//	part-00001.parquet
//	...
//	_manifest.json      written last
//
// The manifest names the record kind, the schema version, the total row
// count, every shard with its row count and SHA-256, the command line and
// version that produced it and the creation time. A reader refuses a
// directory without a manifest (the producing command was interrupted), a
// shard whose checksum does not match, a dataset of the wrong kind and a
// shard whose schema lacks or mistypes a column.
//
// Record kinds (one Go struct each, column names in the parquet and json
// struct tags): QA (kind "qa", output of scrape), Prompt ("prompt", PPO
// prompts), SFT ("sft", demonstrations), Comparison ("comparison", reward
// model data with TRL-compatible names) and Response ("response", sampled
// answers). Every record carries a stable content-hash id (see ContentID) so
// reruns produce the same ids.
//
// Naming: Create/Writer write a dataset, Open/Reader stream one or more
// datasets (directories, globs, or JSONL files with the same field names),
// ReadAll loads a small one into memory.
package dataset
