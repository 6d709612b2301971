// Package label holds rlhf's preference-data collection: the SQLite store of
// human rankings (Store), the local ranking web app (Server, with its
// embedded single-page app under web/), agreement statistics (Stats,
// PairAgreement, CohenKappa, KrippendorffAlpha), the export of rankings to a
// comparison dataset (Export), and two non-human sources of comparisons:
// answers ranked by scraped up-votes (FromVotes) and public preference
// datasets (Import). The AI labeller lives in the subpackage judge.
//
// Naming: an item (a "group") is one prompt with its K answers, keyed by the
// response dataset's prompt_id; a labeler is a person with a name, a role
// (labeler or admin) and a token; a submission is one append-only row of the
// submissions table (kind rank, skip, undo or gold); a Ranking maps response
// ids to 1-based ranks (1 is best, equal ranks are ties). Every ranked group
// expands into its C(K,2) pairs (ties dropped) when exported, all rows of one
// group sharing a group_id.
//
// Options structs (ServeOptions, ExportOptions, VotesOptions, ImportOptions)
// are bound to flags by package cmd; the Run-style functions take a context
// and the options and are what tests call.
package label
