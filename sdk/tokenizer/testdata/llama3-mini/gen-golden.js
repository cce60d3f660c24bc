// Writes hf-golden.json: the ids Hugging Face tokenizers gives for each
// string of inputs.json with tokenizer.json (post-processor included).
// Run from this directory after `npm install tokenizers@0.23.2` somewhere
// on NODE_PATH:  node gen-golden.js
const fs = require('fs');
const { Tokenizer } = require('tokenizers');

async function main() {
  const tok = Tokenizer.fromFile('tokenizer.json');
  const inputs = JSON.parse(fs.readFileSync('inputs.json', 'utf8'));
  const out = [];
  for (const text of inputs) {
    const enc = await tok.encode(text, null, { addSpecialTokens: true });
    out.push({ text, ids: enc.getIds() });
  }
  fs.writeFileSync('hf-golden.json', '[\n' + out.map((o) => JSON.stringify(o)).join(',\n') + '\n]\n');
  console.log(`wrote ${out.length} cases`);
}
main().catch((e) => { console.error(e); process.exit(1); });
