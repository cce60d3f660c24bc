package tokenizer

import (
	"strings"
	"testing"
)

const benchParagraph = `The edge agent loads a model file, maps it into memory and answers requests
without copying the weights. Each request runs in its own session, which keeps the key and value
cache for the conversation, and the scheduler interleaves sessions so that a long prompt does not
hold back short ones. When an update arrives, the agent writes the new files next to the old ones,
checks their hashes, maps them, warms them with a few tokens and only then switches over; requests
that started on the old release finish on it. Tokenization happens once per request for the prompt
and once per generated token for the output, so the encoder must be quick on long prompts, and the
streaming decoder must never allocate on the per-token path. Numbers such as 3.14159, 2024 and
1,000,000 appear in prompts, as do contractions (don't, we'll, I'm), quotes "like this", code
fragments like fmt.Println(x[i]) and URLs such as https://example.com/path?q=1. Some users write in
other languages too: naïve café, Größe, 東京, and the occasional emoji 🙂.
`

var benchText = strings.Repeat(benchParagraph, 3)

// trainBPE learns n merges from text with the classic BPE training loop
// (most frequent adjacent pair first), giving the benchmark a vocabulary
// whose merges fit its text the way a real model's do.
func trainBPE(text string, n int) bpeSpec {
	counts := map[string]int{}
	for _, w := range splitLlama3(text) {
		counts[w]++
	}
	type word struct {
		parts []string
		count int
	}
	var words []word
	for w, c := range counts {
		var parts []string
		for i := 0; i < len(w); i++ {
			parts = append(parts, w[i:i+1])
		}
		words = append(words, word{parts, c})
	}
	var spec bpeSpec
	known := map[string]bool{}
	for range n {
		pairs := map[[2]string]int{}
		for _, w := range words {
			for i := 0; i+1 < len(w.parts); i++ {
				pairs[[2]string{w.parts[i], w.parts[i+1]}] += w.count
			}
		}
		var best [2]string
		bestN := 0
		for p, c := range pairs {
			if c > bestN || (c == bestN && p[0]+"\x00"+p[1] < best[0]+"\x00"+best[1]) {
				best, bestN = p, c
			}
		}
		if bestN < 2 {
			break
		}
		spec.merges = append(spec.merges, best)
		if m := best[0] + best[1]; !known[m] && len(m) > 1 {
			known[m] = true
			spec.extra = append(spec.extra, m)
		}
		for wi := range words {
			p := words[wi].parts
			var out []string
			for i := 0; i < len(p); i++ {
				if i+1 < len(p) && p[i] == best[0] && p[i+1] == best[1] {
					out = append(out, p[i]+p[i+1])
					i++
				} else {
					out = append(out, p[i])
				}
			}
			words[wi].parts = out
		}
	}
	spec.ignore = true
	return spec
}

func BenchmarkEncode(b *testing.B) {
	spec := trainBPE(benchParagraph, 400)
	bpe := spec.build(b)
	noIgnore := spec
	noIgnore.ignore = false
	for _, bc := range []struct {
		name string
		tok  Tokenizer
	}{
		{"bpe-400-merges", bpe},
		{"bpe-400-merges-no-ignore", noIgnore.build(b)},
		{"sentencepiece-small", spHello.build(b)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(benchText)))
			b.ReportAllocs()
			dst := make([]int, 0, len(benchText))
			var n int
			for b.Loop() {
				n = len(bc.tok.EncodeTo(dst[:0], benchText, EncodeOptions{}))
			}
			b.ReportMetric(float64(n), "tokens")
		})
	}
}

func BenchmarkStreamNext(b *testing.B) {
	tok := trainBPE(benchParagraph, 400).build(b)
	ids := tok.Encode(benchText, EncodeOptions{})
	d := NewStreamDecoder(tok)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d.Next(ids[i%len(ids)])
		i++
	}
}
