package sdk

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/speakez/barewire/mmapmodel"
	"github.com/speakez/barewire/simd"
)

// The ternary MLP classifier (architecture "mlp"). Tensor names, slots and
// parameters, as written by mmapmodel's test-model generator
// (docs/FORMAT.md, "The shipped test model") and by WriteMLP:
//
//	slot input:     input.mean, input.inv_std  f32 [input_dim] (optional)
//	                x' = (x − mean) · inv_std, x in the data's raw units
//	slot hidden.k:  hidden.k.weight  t2 | t1.6 | i8  [out, in]
//	                hidden.k.bias    f32 [out]           (optional)
//	                hidden.k.norm.weight f32 [in]        (optional: FusedBitLinear)
//	                h = relu(BitLinear(h) + bias)
//	slot head:      head.weight, head.bias, head.norm.weight as above, no ReLU
//	                labels  u8, one class name per line  (optional)
//
// k counts up from 0 while hidden.k.weight exists. Parameters: input_dim
// and num_classes (required), activation ("relu", the default and only
// one), norm_eps (float, default 1e-6) for the layers that carry a norm.
// Every layer quantizes its input per call to int8 (absmax, §1.3 of
// architectures.md) and computes exact integer dot products; an i8 head is
// W8A8 with its row scales.
type mlpGraph struct {
	inputs, classes int
	mean, invStd    []float32
	layers          []mlpLayer
	labels          []string
	size            scratchSize
	scratch         sync.Pool // *mlpScratch
}

type mlpLayer struct {
	lin  *linear
	bias []float32
	relu bool
}

type mlpScratch struct {
	sc   *scratch
	a, b []float32
}

// Tensor and slot names of the MLP classifier.
const (
	SlotMLPInput   = "input"
	SlotMLPHead    = "head"
	TensorMLPMean  = "input.mean"
	TensorMLPStd   = "input.inv_std"
	TensorMLPLabel = "labels"
)

// MLPHiddenName is the name (slot and tensor prefix) of hidden layer k.
func MLPHiddenName(k int) string { return fmt.Sprintf("hidden.%d", k) }

func loadMLP(ld *loader) (*mlpGraph, error) {
	g := &mlpGraph{}
	var err error
	if g.inputs, err = ld.intParam("input_dim", 0, true); err != nil {
		return nil, err
	}
	if g.classes, err = ld.intParam("num_classes", 0, true); err != nil {
		return nil, err
	}
	if act, err := ld.stringParam("activation", "relu"); err != nil {
		return nil, err
	} else if act != "relu" {
		return nil, ld.errorf("parameter activation = %q, want relu", act)
	}
	eps, err := ld.floatParam("norm_eps", 1e-6)
	if err != nil {
		return nil, err
	}
	if g.inputs <= 0 || g.classes <= 0 {
		return nil, ld.errorf("input_dim %d and num_classes %d must be positive", g.inputs, g.classes)
	}
	if ld.has(TensorMLPMean) || ld.has(TensorMLPStd) {
		if g.mean, err = ld.vector(TensorMLPMean, g.inputs); err != nil {
			return nil, err
		}
		if g.invStd, err = ld.vector(TensorMLPStd, g.inputs); err != nil {
			return nil, err
		}
	}
	in := g.inputs
	names := []string{}
	for k := 0; ld.has(MLPHiddenName(k) + ".weight"); k++ {
		names = append(names, MLPHiddenName(k))
	}
	names = append(names, SlotMLPHead)
	for i, name := range names {
		t, err := ld.tensor(name + ".weight")
		if err != nil {
			return nil, err
		}
		if len(t.Shape) != 2 || int(t.Shape[1]) != in {
			return nil, ld.errorf("tensor %q has shape %v, want [out %d] (the previous layer's width)", name+".weight", t.Shape, in)
		}
		out := int(t.Shape[0])
		if name == SlotMLPHead && out != g.classes {
			return nil, ld.errorf("tensor %q has %d rows, want num_classes = %d", name+".weight", out, g.classes)
		}
		lin, err := ld.linear(name, out, in, false)
		if err != nil {
			return nil, err
		}
		if ld.has(name + ".norm.weight") {
			if err := ld.withNorm(lin, eps); err != nil {
				return nil, err
			}
		}
		ly := mlpLayer{lin: lin, relu: i < len(names)-1}
		if ld.has(name + ".bias") {
			if ly.bias, err = ld.vector(name+".bias", out); err != nil {
				return nil, err
			}
		}
		g.layers = append(g.layers, ly)
		g.size.add(lin)
		in = out
	}
	if ld.has(TensorMLPLabel) {
		t, _ := ld.tensor(TensorMLPLabel)
		v, err := mmapmodel.NewView[uint8](t)
		if err != nil {
			return nil, err
		}
		labels := strings.Split(strings.TrimSuffix(string(v.Data()), "\n"), "\n")
		v.Release()
		if len(labels) != g.classes {
			return nil, ld.errorf("tensor %q has %d labels, want %d", TensorMLPLabel, len(labels), g.classes)
		}
		g.labels = labels
	}
	g.size.batch = 1
	g.scratch.New = func() any {
		w := max(g.size.maxIn, g.size.maxOut)
		return &mlpScratch{sc: newScratch(g.size), a: make([]float32, w), b: make([]float32, w)}
	}
	return g, nil
}

// Inputs is the classifier's input width (0 for a language model).
func (m *Model) Inputs() int {
	if m.mlp == nil {
		return 0
	}
	return m.mlp.inputs
}

// Labels returns the class names stored in the model, or nil.
func (m *Model) Labels() []string {
	if m.mlp == nil {
		return nil
	}
	return m.mlp.labels
}

// Classify runs the classifier on one input in the data's raw units (the
// model applies its own normalization) and returns the class scores
// (logits, one per class, in a new slice) and the index of the highest
// (ties to the lowest index). It is safe to call from many goroutines.
func (m *Model) Classify(ctx context.Context, inputs []float32) (scores []float32, label int, err error) {
	scores = make([]float32, m.Classes())
	label, err = m.ClassifyInto(ctx, scores, inputs)
	if err != nil {
		return nil, 0, err
	}
	return scores, label, nil
}

// Classes is the number of classes of a classifier (0 for a language model).
func (m *Model) Classes() int {
	if m.mlp == nil {
		return 0
	}
	return m.mlp.classes
}

// ClassifyInto is Classify writing the scores into dst (len Classes());
// it does not allocate.
func (m *Model) ClassifyInto(ctx context.Context, dst, inputs []float32) (int, error) {
	return m.classify(ctx, dst, inputs, nil)
}

func (m *Model) classify(ctx context.Context, dst, inputs []float32, tr tracer) (int, error) {
	if err := m.check(); err != nil {
		return 0, err
	}
	g := m.mlp
	if g == nil {
		return 0, fmt.Errorf("Classify on a %q model: %w", m.arch, ErrArch)
	}
	if len(inputs) != g.inputs {
		return 0, fmt.Errorf("input has %d values, model takes %d: %w", len(inputs), g.inputs, ErrInput)
	}
	if len(dst) != g.classes {
		return 0, fmt.Errorf("scores buffer has %d slots for %d classes: %w", len(dst), g.classes, ErrInput)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s := g.scratch.Get().(*mlpScratch)
	defer g.scratch.Put(s)
	x := s.a[:g.inputs]
	for i, v := range inputs {
		if g.mean != nil {
			v = (v - g.mean[i]) * g.invStd[i]
		}
		x[i] = v
	}
	r := &run{m: m, sc: s.sc, trace: tr}
	cur, next := s.a, s.b
	for i, ly := range g.layers {
		y := next[:ly.lin.out]
		if i == len(g.layers)-1 {
			y = dst
		}
		ly.lin.apply(r, y, 0, cur[:ly.lin.in], 0, 1)
		for j := range y {
			if ly.bias != nil {
				y[j] += ly.bias[j]
			}
			if ly.relu && y[j] < 0 {
				y[j] = 0
			}
		}
		cur, next = next, cur
	}
	return Argmax(dst), nil
}

// Argmax returns the index of the largest value, ties to the lowest index
// (NaNs are never chosen unless x[0] is one): greedy decoding's choice
// from the logits of Session.Forward. It returns 0 for an empty x. It is
// simd.Argmax.
func Argmax(x []float32) int { return simd.Argmax(x) }
