package sdk

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/speakez/barewire/mmapmodel"
	"github.com/speakez/barewire/sdk/internal/reference"
	"github.com/speakez/barewire/simd"
)

func f32bytes(v []float64) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(f)))
	}
	return b
}

func f32spec(v []float64) mmapmodel.TensorSpec {
	return mmapmodel.TensorSpec{DType: mmapmodel.F32, Shape: []mmapmodel.Elems{mmapmodel.Elems(len(v))}, Data: bytes.NewReader(f32bytes(v))}
}

// packT16, when set, makes ternarySpec write t1.6 (t5b160) tensors.
var packT16 bool

// ternarySpec packs a reference BitLinear's weights into i2b128 rows (or
// t5b160 rows when packT16 is set).
func ternarySpec(b *reference.BitLinear) mmapmodel.TensorSpec {
	if packT16 {
		rb := simd.RowBytesT5B160(b.In)
		buf := make([]byte, b.Out*rb)
		for r := range b.Out {
			simd.PackT5B160(buf[r*rb:(r+1)*rb], b.Row(r))
		}
		return mmapmodel.TensorSpec{DType: mmapmodel.T16, Shape: []mmapmodel.Elems{mmapmodel.Elems(b.Out), mmapmodel.Elems(b.In)},
			Scale: float32(b.Gamma), Data: bytes.NewReader(buf)}
	}
	rb := simd.RowBytesI2B128(b.In)
	buf := make([]byte, b.Out*rb)
	for r := range b.Out {
		simd.PackI2B128(buf[r*rb:(r+1)*rb], b.Row(r))
	}
	return mmapmodel.TensorSpec{DType: mmapmodel.T2, Shape: []mmapmodel.Elems{mmapmodel.Elems(b.Out), mmapmodel.Elems(b.In)},
		Scale: float32(b.Gamma), Data: bytes.NewReader(buf)}
}

// int8Spec quantizes a float matrix per row (absmax/127) into an i8 tensor.
func int8Spec(m reference.Matrix) mmapmodel.TensorSpec {
	q := make([]byte, m.Rows*m.Cols)
	sc := make([]float32, m.Rows)
	for r := range m.Rows {
		row := m.Row(r)
		mx := 0.0
		for _, v := range row {
			mx = math.Max(mx, math.Abs(v))
		}
		s := mx / 127
		if s == 0 {
			s = 1
		}
		sc[r] = float32(s)
		for c, v := range row {
			q[r*m.Cols+c] = byte(int8(math.RoundToEven(v / s)))
		}
	}
	return mmapmodel.TensorSpec{DType: mmapmodel.I8, Shape: []mmapmodel.Elems{mmapmodel.Elems(m.Rows), mmapmodel.Elems(m.Cols)}, Scales: sc, Data: bytes.NewReader(q)}
}

func matrixSpec(m reference.Matrix) mmapmodel.TensorSpec {
	return mmapmodel.TensorSpec{DType: mmapmodel.F32, Shape: []mmapmodel.Elems{mmapmodel.Elems(m.Rows), mmapmodel.Elems(m.Cols)}, Data: bytes.NewReader(f32bytes(m.Data))}
}

// writeRefMLP writes a reference MLP in the "mlp" convention: the input
// normalization x' = (x/div − mean)/std becomes (x − mean·div)·1/(std·div).
func writeRefMLP(t testing.TB, m *reference.MLP) string {
	t.Helper()
	c := m.Config
	path := filepath.Join(t.TempDir(), "mlp.bwm")
	params := []mmapmodel.Param{mmapmodel.IntParam("input_dim", int64(c.Inputs)), mmapmodel.IntParam("num_classes", int64(c.Classes)),
		mmapmodel.StringParam("activation", "relu"), mmapmodel.FloatParam("norm_eps", c.NormEps)}
	w := mmapmodel.NewWriter(path, ArchMLP, params)
	mean, inv := make([]float64, c.Inputs), make([]float64, c.Inputs)
	for i := range mean {
		mu, sd := c.Mean[0], c.Std[0]
		if len(c.Mean) > 1 {
			mu = c.Mean[i]
		}
		if len(c.Std) > 1 {
			sd = c.Std[i]
		}
		mean[i], inv[i] = mu*c.InputDivisor, 1/(sd*c.InputDivisor)
	}
	w.BeginComponent(SlotMLPInput)
	add := func(name string, s mmapmodel.TensorSpec) { s.Name = name; w.Add(s) }
	add(TensorMLPMean, f32spec(mean))
	add(TensorMLPStd, f32spec(inv))
	for k, b := range m.Layers {
		name := MLPHiddenName(k)
		if k == len(m.Layers)-1 {
			name = SlotMLPHead
		}
		w.BeginComponent(name)
		add(name+".weight", ternarySpec(b))
		if b.Norm != nil {
			add(name+".norm.weight", f32spec(b.Norm))
		}
		if c.Bias {
			add(name+".bias", f32spec(m.Biases[k]))
		}
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return path
}

// refBitNetConfig converts a reference configuration.
func refBitNetConfig(c reference.BitNetConfig, ctx int) BitNetConfig {
	act := "relu2"
	if c.Act == reference.ActSiLU {
		act = "silu"
	}
	return BitNetConfig{Vocab: c.Vocab, Dim: c.Dim, Layers: c.Layers, Heads: c.Heads, KVHeads: c.KVHeads, HeadDim: c.HeadDim,
		FFN: c.FFN, RopeTheta: c.RopeTheta, Eps: c.Eps, Act: act, ContextLength: ctx, NoSubNorms: !c.SubNorms}
}

// writeRefBitNet writes a reference BitNet model (without SubLN norms when
// the reference has none); int8Head stores the (tied) embedding as int8
// rows instead of f32, and extra parameters replace those of the same key
// (or are appended), so tests can write inconsistent files.
func writeRefBitNet(t testing.TB, m *reference.BitNet, int8Head bool, extra ...mmapmodel.Param) string {
	t.Helper()
	c := refBitNetConfig(m.Config, 256)
	path := filepath.Join(t.TempDir(), "bitnet.bwm")
	byName := map[string]*reference.BitLinear{}
	vecs := map[string][]float64{bitnetNorm + ".weight": m.Norm}
	for l, ly := range m.Layers {
		for _, b := range []*reference.BitLinear{ly.Q, ly.K, ly.V, ly.O, ly.Gate, ly.Up, ly.Down} {
			byName[b.Name+".weight"] = b
		}
		vecs[bitnetLayer(l, "input_layernorm.weight")] = ly.AttnNorm
		vecs[bitnetLayer(l, "self_attn.attn_sub_norm.weight")] = ly.AttnSubNorm
		vecs[bitnetLayer(l, "post_attention_layernorm.weight")] = ly.FFNNorm
		vecs[bitnetLayer(l, "mlp.ffn_sub_norm.weight")] = ly.FFNSubNorm
	}
	spec := func(d tensorDesc) (mmapmodel.TensorSpec, error) {
		switch d.role {
		case roleTernary:
			return ternarySpec(byName[d.name]), nil
		case roleNorm:
			return f32spec(vecs[d.name]), nil
		case roleEmbed:
			if int8Head {
				return int8Spec(m.Embed), nil
			}
			return matrixSpec(m.Embed), nil
		case roleHead:
			return matrixSpec(*m.Output), nil
		}
		return mmapmodel.TensorSpec{}, fmt.Errorf("unexpected role %d", d.role)
	}
	params := bitnetParams(c)
	for _, e := range extra {
		if i := slices.IndexFunc(params, func(p mmapmodel.Param) bool { return p.Key == e.Key }); i >= 0 {
			params[i] = e
		} else {
			params = append(params, e)
		}
	}
	if err := writeLayout(path, ArchBitNet, params, bitnetLayout(c, !m.Config.TiedOutput), spec, nil); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeRefMMFree writes a reference MatMul-free LM, with the per-layer
// lower bounds computed by the reference.
func writeRefMMFree(t testing.TB, m *reference.MMFree) string {
	t.Helper()
	c := MMFreeConfig{Vocab: m.Config.Vocab, Dim: m.Config.Dim, Layers: m.Config.Layers, FFN: m.Config.FFN, Eps: m.Config.Eps}
	path := filepath.Join(t.TempDir(), "mmfree.bwm")
	byName := map[string]*reference.BitLinear{lmHeadName + ".weight": m.LMHead}
	vecs := map[string][]float64{mmfreeNorm + ".weight": m.Norm, lmHeadName + ".norm.weight": m.LMHead.Norm}
	lb := m.LayerLowerBounds()
	for l, ly := range m.Layers {
		for _, b := range []*reference.BitLinear{ly.I, ly.F, ly.G, ly.O, ly.GateProj, ly.Down} {
			byName[b.Name+".weight"] = b
			vecs[b.Name+".norm.weight"] = b.Norm
		}
		vecs[mmfreeLayer(l, "attn_norm.weight")] = ly.AttnNorm
		vecs[mmfreeLayer(l, "attn.g_norm.weight")] = ly.GNorm
		vecs[mmfreeLayer(l, "mlp_norm.weight")] = ly.MLPNorm
		vecs[mmfreeLayer(l, "attn.lower_bound")] = lb[l]
	}
	spec := func(d tensorDesc) (mmapmodel.TensorSpec, error) {
		switch d.role {
		case roleTernary:
			return ternarySpec(byName[d.name]), nil
		case roleNorm, roleVector:
			return f32spec(vecs[d.name]), nil
		case roleEmbed:
			return matrixSpec(m.Embed), nil
		}
		return mmapmodel.TensorSpec{}, fmt.Errorf("unexpected role %d", d.role)
	}
	if err := writeLayout(path, ArchMMFree, mmfreeParams(c), mmfreeLayout(c), spec, nil); err != nil {
		t.Fatal(err)
	}
	return path
}

// findLinear returns the model's projection named name (reference naming).
func findLinear(m *Model, name string) *linear {
	if m.mlp != nil {
		for k, ly := range m.mlp.layers {
			if fmt.Sprintf("layers.%d", k) == name {
				return ly.lin
			}
		}
		return nil
	}
	for _, b := range m.lm.blocks {
		for _, c := range []component{b.mixer, b.channel} {
			for _, l := range c.linears() {
				if l.name == name {
					return l
				}
			}
		}
	}
	if m.lm.head.lin.name == name {
		return m.lm.head.lin
	}
	return nil
}

// kernelDots runs the model's kernel for projection l on the int8
// activations xq (the reference's), returning the exact dot products.
func kernelDots(m *Model, l *linear, xq []int8) []int32 {
	x := make([]int8, l.padded)
	copy(x, xq)
	acc := make([]int32, l.out)
	switch l.kind {
	case linT2:
		m.pool.MatVecT2(m.impl, acc, l.w, l.stride, x, simd.SumInt8(x))
	case linT16:
		m.pool.MatVecT16(m.impl, acc, l.w, l.stride, x, simd.SumInt8(x))
	case linI8:
		m.pool.MatVecI8(m.impl, acc, l.w8, l.in, x[:l.in])
	}
	return acc
}

// checkTraceIntegers checks that every quantized projection of the
// reference trace gives the same exact integers through the model's
// kernels on the mapped weights.
func checkTraceIntegers(t *testing.T, m *Model, tr *reference.Trace, rename func(string) string) int {
	t.Helper()
	n := 0
	for _, rec := range tr.Records {
		name := rec.Name
		if rename != nil {
			name = rename(name)
		}
		l := findLinear(m, name)
		if l == nil {
			t.Fatalf("projection %q not in the model", name)
		}
		got := kernelDots(m, l, rec.Xq)
		for i := range got {
			if got[i] != rec.Dot[i] {
				t.Fatalf("%s pos %d row %d: kernel dot %d, reference %d", rec.Name, rec.Pos, i, got[i], rec.Dot[i])
			}
		}
		n++
	}
	return n
}

// maxAbsDiff returns max|a−b| and the range of b.
func maxAbsDiff(a []float32, b []float64) (diff, span float64) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range b {
		diff = math.Max(diff, math.Abs(float64(a[i])-b[i]))
		lo, hi = math.Min(lo, b[i]), math.Max(hi, b[i])
	}
	return diff, hi - lo
}

// unpackRow decodes one i2b128 row.
func unpackRow(dst []int8, row []byte) { simd.UnpackI2B128(dst, row, len(dst)) }
