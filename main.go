// Command rlhf takes a small team from no data to an aligned small language
// model, following the InstructGPT recipe: scrape → build-prompts → sft → rm → ppo.
package main

import (
	"os"

	"github.com/rlhf-project/rlhf/cmd"
)

func main() {
	os.Exit(cmd.Execute())
}
