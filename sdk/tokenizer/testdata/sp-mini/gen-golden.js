// Writes sp-golden.json: the ids the sentencepiece library gives for each
// string of inputs.json with tokenizer.model. Run from this directory after
// `npm install sentencepiece-js@1.1.0` somewhere on NODE_PATH:
//   node gen-golden.js
const fs = require('fs');
const { SentencePieceProcessor } = require('sentencepiece-js');

async function main() {
  const spp = new SentencePieceProcessor();
  await spp.load('tokenizer.model');
  const inputs = JSON.parse(fs.readFileSync('inputs.json', 'utf8'));
  const out = inputs.map((text) => ({ text, ids: Array.from(spp.encodeIds(text)) }));
  fs.writeFileSync('sp-golden.json', '[\n' + out.map((o) => JSON.stringify(o)).join(',\n') + '\n]\n');
  console.log(`wrote ${out.length} cases`);
}
main().catch((e) => { console.error(e); process.exit(1); });
