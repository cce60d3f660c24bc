package tokenizer_test

import (
	"fmt"
	"log"

	"github.com/speakez/barewire/sdk/tokenizer"
)

// A LLaMA-3 style vocabulary as a GGUF importer hands it over: the 256
// single bytes (spelled in GPT-2's byte-to-unicode characters, so space is
// "Ġ"), a few merged tokens, and two control tokens.
func exampleVocab() tokenizer.GGUFVocab {
	v := tokenizer.NewGGUFVocab()
	v.Model, v.Pre = "gpt2", "llama-bpe"
	n := rune(0)
	for b := rune(0); b < 256; b++ {
		r := b
		if !(b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE) {
			r = 0x100 + n // GPT-2 bytes_to_unicode
			n++
		}
		v.Tokens = append(v.Tokens, string(r))
		v.TokenTypes = append(v.TokenTypes, 1)
	}
	for _, tok := range []string{"he", "ll", "llo", "hello", "Ġw", "or", "Ġwor", "ld", "Ġworld"} {
		v.Tokens = append(v.Tokens, tok)
		v.TokenTypes = append(v.TokenTypes, 1)
	}
	v.Merges = []string{"h e", "l l", "ll o", "he llo", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"}
	v.BOS = len(v.Tokens)
	v.Tokens = append(v.Tokens, "<|begin_of_text|>", "<|eot_id|>")
	v.TokenTypes = append(v.TokenTypes, 3, 3)
	v.EOS = v.BOS + 1
	return v
}

func Example() {
	tok, err := tokenizer.FromGGUF(exampleVocab())
	if err != nil {
		log.Fatal(err)
	}
	ids := tok.Encode("hello world<|eot_id|>", tokenizer.EncodeOptions{AddBOS: true})
	fmt.Println(ids)
	fmt.Printf("%q\n", tok.Decode(ids))
	fmt.Println("stop at", ids[len(ids)-1], tok.IsStop(ids[len(ids)-1]))

	// Generated tokens stream out as text; control tokens can be left out.
	d := tokenizer.NewStreamDecoder(tok)
	d.SkipSpecial = true
	var parts []string
	for _, id := range ids {
		parts = append(parts, string(d.Next(id)))
	}
	fmt.Printf("%q\n", parts)

	// The tokenizer is stored in the model file as a blob.
	blob, err := tokenizer.Marshal(tok)
	if err != nil {
		log.Fatal(err)
	}
	back, err := tokenizer.Unmarshal(blob)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(back.Encode("hello world", tokenizer.EncodeOptions{}))
	// Output:
	// [265 259 264 266]
	// "<|begin_of_text|>hello world<|eot_id|>"
	// stop at 266 true
	// ["" "hello" " world" ""]
	// [259 264]
}
