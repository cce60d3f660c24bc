package sdk

import (
	"fmt"

	"github.com/speakez/barewire/mmapmodel"
)

// Slot names of a language model's graph.
const (
	SlotEmbedding = "embedding"
	SlotHead      = "head"
)

// BlockMixerSlot and BlockChannelSlot name block l's token-mixer and
// channel-mixer slots.
func BlockMixerSlot(l int) string   { return fmt.Sprintf("block.%d.mixer", l) }
func BlockChannelSlot(l int) string { return fmt.Sprintf("block.%d.channel", l) }

const (
	bitnetEmbed = "model.embed_tokens"
	bitnetNorm  = "model.norm"
	mmfreeEmbed = "model.embeddings"
	mmfreeNorm  = "model.norm"
	lmHeadName  = "lm_head"
)

func bitnetLayer(l int, s string) string { return fmt.Sprintf("model.layers.%d.%s", l, s) }
func mmfreeLayer(l int, s string) string { return fmt.Sprintf("model.layers.%d.%s", l, s) }

// tensorRole says what kind of data a tensor of a layout holds.
type tensorRole int

const (
	roleTernary tensorRole = iota // a BitLinear's weights (name ends in ".weight")
	roleNorm                      // an RMSNorm weight, f32 [cols]
	roleEmbed                     // the embedding table [rows, cols]
	roleHead                      // an untied output head [rows, cols]
	roleVector                    // another f32 vector [cols]
)

// tensorDesc is one tensor a model file of an architecture holds.
type tensorDesc struct {
	name       string
	role       tensorRole
	rows, cols int
}

type slotDesc struct {
	slot    string
	tensors []tensorDesc
}

func tern(name string, rows, cols int) tensorDesc {
	return tensorDesc{name: name + ".weight", role: roleTernary, rows: rows, cols: cols}
}
func normT(name string, n int) tensorDesc { return tensorDesc{name: name, role: roleNorm, cols: n} }

// bitnetLayout lists a BitNet file's slots and tensors in file order.
func bitnetLayout(c BitNetConfig, untied bool) []slotDesc {
	qd, kvd := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	out := []slotDesc{{SlotEmbedding, []tensorDesc{{name: bitnetEmbed + ".weight", role: roleEmbed, rows: c.Vocab, cols: c.Dim}}}}
	for l := range c.Layers {
		p := func(s string) string { return bitnetLayer(l, s) }
		mixer := []tensorDesc{
			normT(p("input_layernorm.weight"), c.Dim),
			tern(p("self_attn.q_proj"), qd, c.Dim), tern(p("self_attn.k_proj"), kvd, c.Dim),
			tern(p("self_attn.v_proj"), kvd, c.Dim),
		}
		channel := []tensorDesc{
			normT(p("post_attention_layernorm.weight"), c.Dim),
			tern(p("mlp.gate_proj"), c.FFN, c.Dim), tern(p("mlp.up_proj"), c.FFN, c.Dim),
		}
		if !c.NoSubNorms {
			mixer = append(mixer, normT(p("self_attn.attn_sub_norm.weight"), qd))
			channel = append(channel, normT(p("mlp.ffn_sub_norm.weight"), c.FFN))
		}
		out = append(out,
			slotDesc{BlockMixerSlot(l), append(mixer, tern(p("self_attn.o_proj"), c.Dim, qd))},
			slotDesc{BlockChannelSlot(l), append(channel, tern(p("mlp.down_proj"), c.Dim, c.FFN))})
	}
	head := slotDesc{SlotHead, []tensorDesc{normT(bitnetNorm+".weight", c.Dim)}}
	if untied {
		head.tensors = append(head.tensors, tensorDesc{name: lmHeadName + ".weight", role: roleHead, rows: c.Vocab, cols: c.Dim})
	}
	return append(out, head)
}

func bitnetParams(c BitNetConfig) []mmapmodel.Param {
	ps := []mmapmodel.Param{
		mmapmodel.IntParam("vocab_size", int64(c.Vocab)), mmapmodel.IntParam("hidden_size", int64(c.Dim)),
		mmapmodel.IntParam("num_layers", int64(c.Layers)), mmapmodel.IntParam("num_heads", int64(c.Heads)),
		mmapmodel.IntParam("num_kv_heads", int64(c.KVHeads)), mmapmodel.IntParam("head_dim", int64(c.HeadDim)),
		mmapmodel.IntParam("intermediate_size", int64(c.FFN)), mmapmodel.FloatParam("rope_theta", c.RopeTheta),
		mmapmodel.FloatParam("rms_norm_eps", c.Eps), mmapmodel.StringParam("hidden_act", c.Act),
		mmapmodel.IntParam("context_length", int64(c.ContextLength)),
	}
	if c.NoSubNorms {
		// Written only when 0, so SubLN files stay byte-identical.
		ps = append(ps, mmapmodel.IntParam("sub_norms", 0))
	}
	return ps
}

// mmfreeLayout lists a MatMul-free LM file's slots and tensors in file order.
func mmfreeLayout(c MMFreeConfig) []slotDesc {
	out := []slotDesc{{SlotEmbedding, []tensorDesc{{name: mmfreeEmbed + ".weight", role: roleEmbed, rows: c.Vocab, cols: c.Dim}}}}
	for l := range c.Layers {
		p := func(s string) string { return mmfreeLayer(l, s) }
		mx := []tensorDesc{normT(p("attn_norm.weight"), c.Dim)}
		for _, n := range []string{"i", "f", "g", "o"} {
			mx = append(mx, tern(p("attn."+n+"_proj"), c.Dim, c.Dim), normT(p("attn."+n+"_proj.norm.weight"), c.Dim))
		}
		mx = append(mx, normT(p("attn.g_norm.weight"), c.Dim))
		if l > 0 {
			mx = append(mx, tensorDesc{name: p("attn.lower_bound"), role: roleVector, cols: c.Dim})
		}
		out = append(out, slotDesc{BlockMixerSlot(l), mx}, slotDesc{BlockChannelSlot(l), []tensorDesc{
			normT(p("mlp_norm.weight"), c.Dim),
			tern(p("mlp.gate_proj"), 2*c.FFN, c.Dim), normT(p("mlp.gate_proj.norm.weight"), c.Dim),
			tern(p("mlp.down_proj"), c.Dim, c.FFN), normT(p("mlp.down_proj.norm.weight"), c.FFN),
		}})
	}
	return append(out, slotDesc{SlotHead, []tensorDesc{
		normT(mmfreeNorm+".weight", c.Dim),
		tern(lmHeadName, c.Vocab, c.Dim), normT(lmHeadName+".norm.weight", c.Dim),
	}})
}

func mmfreeParams(c MMFreeConfig) []mmapmodel.Param {
	return []mmapmodel.Param{
		mmapmodel.IntParam("vocab_size", int64(c.Vocab)), mmapmodel.IntParam("hidden_size", int64(c.Dim)),
		mmapmodel.IntParam("num_layers", int64(c.Layers)), mmapmodel.IntParam("intermediate_size", int64(c.FFN)),
		mmapmodel.FloatParam("rms_norm_eps", c.Eps),
	}
}

// writeLayout writes a single-file model: every tensor of layout, its
// spec (dtype, scales, data) supplied by spec, plus an optional tokenizer
// blob. Nothing is written unless every tensor is supplied.
func writeLayout(path, arch string, params []mmapmodel.Param, layout []slotDesc, spec func(tensorDesc) (mmapmodel.TensorSpec, error), tok []byte) error {
	w := mmapmodel.NewWriter(path, arch, params)
	for _, s := range layout {
		w.BeginComponent(s.slot)
		for _, d := range s.tensors {
			ts, err := spec(d)
			if err != nil {
				return fmt.Errorf("tensor %q: %w", d.name, err)
			}
			ts.Name = d.name
			w.Add(ts)
		}
	}
	if tok != nil {
		w.BeginComponent(SlotTokenizer)
		w.Add(mmapmodel.TensorSpec{Name: TensorTokenizer, DType: mmapmodel.U8, Shape: []mmapmodel.Elems{mmapmodel.Elems(len(tok))}, Data: bytesReader(tok)})
	}
	if err := w.Err(); err != nil {
		return err
	}
	_, err := w.Commit()
	return err
}

// writeLayoutRelease is writeLayout as a release directory: one component
// file per slot, named by content hash, and the manifest.
func writeLayoutRelease(dir, arch string, params []mmapmodel.Param, layout []slotDesc, spec func(tensorDesc) (mmapmodel.TensorSpec, error), tok []byte) error {
	rw, err := mmapmodel.NewReleaseWriter(dir, arch, params)
	if err != nil {
		return err
	}
	for _, s := range layout {
		w := rw.Component(s.slot)
		for _, d := range s.tensors {
			ts, err := spec(d)
			if err != nil {
				return fmt.Errorf("tensor %q: %w", d.name, err)
			}
			ts.Name = d.name
			w.Add(ts)
		}
		if _, err := w.Commit(); err != nil {
			return err
		}
	}
	if tok != nil {
		w := rw.Component(SlotTokenizer)
		w.Add(mmapmodel.TensorSpec{Name: TensorTokenizer, DType: mmapmodel.U8, Shape: []mmapmodel.Elems{mmapmodel.Elems(len(tok))}, Data: bytesReader(tok)})
		if _, err := w.Commit(); err != nil {
			return err
		}
	}
	_, err = rw.Commit()
	return err
}
