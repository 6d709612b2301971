// Package prompts builds instruction data in a chosen task mix (by default
// the InstructGPT API distribution) from open NLP datasets and from the qa
// datasets of `rlhf scrape`. It is the logic behind `rlhf build-prompts`.
//
// The pipeline, top to bottom (see Run):
//
//  1. Sources (--source [task=]adapter:path?opt=val,...) are read by adapters,
//     one per published layout (squad, dureader, summarization,
//     classification, cluener, bio, pairs, dialogue, instruction, qa). An
//     adapter yields Examples: a native task, an optional language and named
//     fields (question, answer, document, summary, ...).
//  2. Every Example becomes one Candidate per task it can serve: its native
//     task, plus generation / brainstorming / other when a generative
//     template's required fields are present (an essay, a list of ideas or a
//     title about the topic of the entry). A template is chosen
//     deterministically from the hash of the content and the seed, rendered,
//     PII-scrubbed, and filtered by language and length.
//  3. Pass 1 counts candidates per (task, source) and keeps, per (task,
//     source), only the smallest sampling keys (bottom-k sampling: the key is
//     a seeded hash of the content, so exact duplicates share a key and a
//     sample of distinct items falls out for free). Memory depends on
//     --total, not on input size.
//  4. The mix (instructgpt, uniform, natural or a YAML file) and the
//     per-source caps fix a quota per (task, source); pass 2 re-reads the
//     inputs and materialises only the selected candidates.
//  5. Near-duplicates are removed per task with MinHash over character
//     n-grams (Chinese) or word n-grams (English); short tasks are filled by
//     repetition up to --max-repeat, and what is still missing is
//     redistributed over the other tasks (renormalisation).
//  6. Rows are split into train/val and written as OUT/prompts (Prompt
//     records) and OUT/sft (SFT records), with OUT/report.md and
//     OUT/report.json.
//
// Naming: an Example is what an adapter reads, a Candidate is an Example
// rendered for one task with one template, a Template is one entry of the
// template bank (templates/*.yaml, embedded; --templates DIR adds to or
// replaces it). Field names are canonical across adapters; docs/build-prompts.md
// lists them.
package prompts
