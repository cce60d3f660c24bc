// Package tokenizer turns text into the token ids of a language model and
// back: byte-level BPE as in LLaMA-3 and BitNet b1.58 2B4T (loaded from
// GGUF metadata or a Hugging Face tokenizer.json), SentencePiece BPE as in
// LLaMA-2 and the 1bitLLM models (from GGUF metadata or a tokenizer.model
// file), and a byte or character tokenizer for small models.
//
// A Tokenizer travels inside a model file as the opaque blob written by
// Marshal and read back by Unmarshal. StreamDecoder turns generated tokens
// into valid UTF-8 text as they arrive.
//
// The rules followed, and where they come from, are written next to the code
// that applies them: the LLaMA-3 split pattern (Llama3Pattern), GPT-2's
// byte-to-unicode table, merge order and ignore_merges (byteBPE), and
// SentencePiece's score-ordered merges, dummy prefix and byte fallback
// (sentencePiece).
package tokenizer
