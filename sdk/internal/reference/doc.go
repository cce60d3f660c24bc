// Package reference is a plain float64 implementation of the ternary
// architectures the SDK runs (BitNet b1.58 in its 2B4T and 1bitLLM forms, the
// MatMul-free LM with its MLGRU token mixer, and a ternary MLP classifier),
// written straight from the equations in reference/architectures.md §1, §2
// and §7 and sharing no code with the SIMD fast path.
//
// Every BitLinear can be evaluated in two modes. [Float] multiplies the
// ternary weights by their per-tensor scale γ and keeps activations at full
// precision. [Quantized] is the exact integer formulation of the papers and of
// bitnet.cpp: per-token int8 activations with scale 127/max|x|, ternary
// weights, an exact integer dot product and y = dot·γ/s_x. A [Trace] set on a
// session records each BitLinear's input, output and, in [Quantized] mode, its
// int8 activations, scale and int32 dot products, by tensor name and
// position, so that a fast path's integer results can be compared for
// equality rather than at a tolerance.
//
// Models are immutable once built (and should pass their Validate method;
// the random constructors check it); a session holds the per-sequence state
// (KV cache or recurrent state) and is used by one goroutine at a time.
// Forward runs a batch of tokens layer by layer as a prefill continuing from
// the session's state; Step is Forward of one token; Greedy resets, prefills
// and decodes by argmax. RandomBitNet, RandomMMFree and RandomMLP build
// small deterministic models from a seed (math/rand/v2 PCG) so that other
// tests can write the same weights into a model file and compare.
//
// Conventions where the sources leave a choice (section numbers refer to
// reference/architectures.md):
//
//   - Rounding is round-half-to-even everywhere (§1.3: torch.round and
//     bitnet.cpp's nearest_int), applied to x·s_x with s_x = 127/max|x|
//     computed first, as both references do.
//   - max|x| is clamped to ≥ 1e-5 (§1.3), so an all-zero activation row has
//     scale 127/1e-5, quantizes to zeros and gives a zero output; γ is
//     clamped to ≥ 1e-5 the same way.
//   - BitNet: both variants have the two SubLN norms (§1.2 says the 1bitLLM
//     models differ only in SiLU and MHA; §1.5 names their inner_attn_ln and
//     ffn_layernorm), rotate-half RoPE over the full head (§1.2, §7 item 6),
//     q head j reads KV head j/(heads/kv_heads) (§7 item 7), a full-precision
//     output head (§7 item 8). Everything, including RoPE angles, softmax and
//     the KV cache, is float64, where HF uses float32 and bitnet.cpp an f16
//     cache (§1.7): agreement with those is a tolerance matter.
//   - MatMul-free LM: the released code, not the paper (§2.2): forget gate
//     with the learned lower bound on layers > 0, i = silu(i)·(1−f),
//     h = f·h + i, output RMSNorm(g)·h·sigmoid(h); the GLU's first half is the
//     gate (§2.3); every projection including lm_head is a FusedBitLinear
//     with eps 1e-6 (§2.4), and the lm_head input is normed twice (§2.5).
//   - The MLP classifier has no section of its own; its conventions are
//     documented on [MLPConfig].
//
// BitLinear names are the HF tensor names without ".weight"
// ("model.layers.0.self_attn.q_proj", "model.layers.0.attn.i_proj",
// "lm_head", "layers.0" for the classifier).
package reference
