// Renders every template of cases.json on every conversation, with and
// without add_generation_prompt, through @huggingface/jinja (the reference
// implementation the hub uses), into golden.json, which the Go tests read.
// Regenerate with:
//   npm install @huggingface/jinja@0.5.11 && node render.mjs
// (run in this folder, or set NODE_PATH to the node_modules holding it).
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(join(process.cwd(), "noop.js"));
const { Template } = require("@huggingface/jinja");
const here = new URL(".", import.meta.url).pathname;
const cases = JSON.parse(readFileSync(join(here, "cases.json"), "utf8"));
const out = [];
for (const [name, tokens] of Object.entries(cases.templates)) {
  const template = new Template(readFileSync(join(here, name + ".jinja"), "utf8"));
  for (const [conv, messages] of Object.entries(cases.conversations)) {
    for (const add_generation_prompt of [false, true]) {
      const row = { template: name, conversation: conv, add_generation_prompt };
      try {
        row.output = template.render({ messages, add_generation_prompt, ...tokens });
      } catch (e) {
        row.error = String(e.message);
      }
      out.push(row);
    }
  }
}
writeFileSync(join(here, "golden.json"), JSON.stringify(out, null, 1) + "\n");
