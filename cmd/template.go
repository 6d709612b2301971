package cmd

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/rlhf-project/rlhf/infer"
)

func init() { register(newTemplateCmd) }

func newTemplateCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "template",
		Short: "Show how prompts are formatted for a model (its chat template or rlhf.json's)",
		Args:  cobra.NoArgs,
	}
	c.AddCommand(newTemplateRenderCmd())
	return c
}

func newTemplateRenderCmd() *cobra.Command {
	opts := infer.RenderOptions{}
	c := &cobra.Command{
		Use:   "render --model M --messages FILE [--add-generation-prompt]",
		Short: "Print a conversation as the model sees it",
		Long: `Print a conversation as every rlhf command formats it for the model: with the
chat template of its tokenizer_config.json (or chat_template.jinja) when it has
one and rlhf.json or --template says "model", else with rlhf.json's {prompt}
template. FILE is JSON: [{"role": "user", "content": "..."}, ...], or an object
with a "messages" list. The output is printed as it is, with no newline added.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			text, err := infer.RenderTemplate(opts)
			if err != nil {
				return err
			}
			_, err = io.WriteString(c.OutOrStdout(), text)
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&opts.Model, "model", "", "model folder or Hugging Face id ORG/NAME from the local cache (required)")
	f.StringVar(&opts.Messages, "messages", "", "JSON file of role/content messages (required)")
	f.BoolVar(&opts.AddGenerationPrompt, "add-generation-prompt", false, "end with the opening of the assistant's turn, as prompts are fed")
	f.StringVar(&opts.Template, "template", "", "none, model (the chat template), or a text with {prompt}; default rlhf.json's")
	c.MarkFlagRequired("model")
	c.MarkFlagRequired("messages")
	return nameFlags(c, &opts)
}
