// Package convert imports published ternary checkpoints into the runtime's
// model file: BitNet b1.58 from GGUF (bitnet.cpp I2_S in its x86 and ARM
// layouts, llama.cpp TQ1_0/TQ2_0, f16/bf16/f32) or from Hugging Face
// safetensors (the 2B4T packed uint8 weights with weight_scale = 1/γ, bf16
// master weights, 1bitLLM f32 latent weights), the LLaMA-architecture
// 1.58-bit fine-tunes (GGUF llama with ternary tensors, or LlamaForCausalLM
// packed weights; the BitNet graph without sub-norms), and the MatMul-free
// LM (HGRN-bit, f32 latent weights), with their tokenizers.
//
// Convert recognises the architecture (GGUF general.architecture, or
// config.json's architectures and model_type), maps the hyper-parameters
// and every tensor name to the runtime's (sdk/bitnet.go, sdk/mmfree.go),
// decodes the weights with mmapmodel/ternary and checks all of it before
// the output file is created. It then streams one tensor at a time from the
// memory-mapped input through mmapmodel's Writer, so memory stays bounded by
// a chunk of rows rather than by the model, and verifies the file it wrote.
// docs/CONVERT.md lists the inputs, options, checks and scale conventions;
// reference/architectures.md §1.4–§1.6, §2.6, §5 and §6 are the sources.
package convert
