package train

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/speakez/barewire/mmapmodel"
	"github.com/speakez/barewire/simd"
)

// MLPConfig describes a ternary MLP classifier (architecture "mlp" of
// docs/FORMAT.md and sdk/mlp.go).
type MLPConfig struct {
	Inputs  int   // input width (784 for MNIST)
	Hidden  []int // hidden layer widths
	Classes int   // number of classes
	// Mean and Std normalize raw inputs inside the model:
	// x' = (x − Mean)·(1/Std), stored as input.mean and input.inv_std.
	Mean, Std float32
	Labels    []string // class names (default "0".."Classes−1")
	Seed      uint64
	Task      string // recorded in the file's parameters
}

// MLP is a ternary MLP classifier under training. Every layer is a
// BitLinear with a bias; hidden layer 0 reads the normalized input,
// later layers and the head read ReLU outputs through their own RMSNorm
// (FusedBitLinear). The head is ternary too, so every weight matrix of the
// exported model is ternary (t2):
//
//	x' = (x − mean)·inv_std
//	h0 = relu(BitLinear_0(x') + b0)
//	hk = relu(BitLinear_k(RMSNorm(h_{k−1}, wk)) + bk)
//	logits = BitLinear_head(RMSNorm(h_last, w_head)) + b_head
type MLP struct {
	Config MLPConfig
	Layers []*Linear // hidden layers then the head
	mean   []float32
	invStd []float32
	acts   [][]float32 // input (normalized), then each layer's output
	dacts  [][]float32
}

// NewMLP makes an MLP with weights drawn from cfg.Seed.
func NewMLP(cfg MLPConfig) *MLP {
	if cfg.Labels == nil {
		for i := range cfg.Classes {
			cfg.Labels = append(cfg.Labels, fmt.Sprint(i))
		}
	}
	r := rand.New(rand.NewPCG(cfg.Seed, 0x6d6c70))
	m := &MLP{Config: cfg}
	in := cfg.Inputs
	for k, h := range cfg.Hidden {
		m.Layers = append(m.Layers, NewLinear(fmt.Sprintf("hidden.%d", k), in, h, k > 0, true, r))
		in = h
	}
	m.Layers = append(m.Layers, NewLinear("head", in, cfg.Classes, len(cfg.Hidden) > 0, true, r))
	m.mean = make([]float32, cfg.Inputs)
	m.invStd = make([]float32, cfg.Inputs)
	for i := range m.mean {
		m.mean[i] = cfg.Mean
		m.invStd[i] = 1 / cfg.Std
	}
	return m
}

// Params lists every trainable parameter.
func (m *MLP) Params() []*Param {
	var ps []*Param
	for _, l := range m.Layers {
		ps = append(ps, l.Params()...)
	}
	return ps
}

// SetQuant sets the quantization blend λ of every layer (see Linear).
func (m *MLP) SetQuant(lam float32) {
	for _, l := range m.Layers {
		l.Quant = lam
	}
}

// Forward returns the logits (n×Classes; valid until the next call) of n
// inputs in raw units (n×Inputs).
func (m *MLP) Forward(x []float32, n int) []float32 {
	in := m.Config.Inputs
	if len(m.acts) != len(m.Layers)+1 {
		m.acts = make([][]float32, len(m.Layers)+1)
		m.dacts = make([][]float32, len(m.Layers)+1)
	}
	a := grow(m.acts[0], n*in)
	for t := range n {
		for i := range in {
			// Same float32 operations as sdk's input normalization.
			a[t*in+i] = (x[t*in+i] - m.mean[i]) * m.invStd[i]
		}
	}
	m.acts[0] = a
	for k, l := range m.Layers {
		y := grow(m.acts[k+1], n*l.Out)
		l.Forward(y, m.acts[k], n)
		if k < len(m.Layers)-1 {
			for i, v := range y {
				if v < 0 {
					y[i] = 0
				}
			}
		}
		m.acts[k+1] = y
	}
	return m.acts[len(m.Layers)]
}

// Backward propagates dlogits (n×Classes) and accumulates gradients.
func (m *MLP) Backward(dlogits []float32) {
	d := dlogits
	for k := len(m.Layers) - 1; k >= 0; k-- {
		l := m.Layers[k]
		if k == 0 {
			l.Backward(nil, d)
			break
		}
		n := l.n
		dx := grow(m.dacts[k], n*l.In)
		clear(dx)
		l.Backward(dx, d)
		// ReLU of the previous layer's output.
		for i, v := range m.acts[k] {
			if v <= 0 {
				dx[i] = 0
			}
		}
		m.dacts[k] = dx
		d = dx
	}
}

// Loss runs a forward and backward pass on a batch and returns the mean
// cross-entropy (nats) and the number of correct predictions.
func (m *MLP) Loss(x []float32, labels []int) (loss float64, correct int) {
	n, k := len(labels), m.Config.Classes
	logits := m.Forward(x, n)
	for t, y := range labels {
		if argmax(logits[t*k:(t+1)*k]) == y {
			correct++
		}
	}
	loss = softmaxXent(logits, labels, k, 1/float32(n))
	m.Backward(logits)
	return loss / float64(n), correct
}

// Predict returns the predicted class of each of n inputs.
func (m *MLP) Predict(x []float32, n int) []int {
	k := m.Config.Classes
	logits := m.Forward(x, n)
	out := make([]int, n)
	for t := range n {
		out[t] = argmax(logits[t*k : (t+1)*k])
	}
	return out
}

// argmax returns the index of the largest value, ties to the lowest (as
// sdk's Classify).
func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

func f32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// packT2 packs rows×cols ternary codes in the i2b128 layout.
func packT2(q []int8, rows, cols int) []byte {
	rb := simd.RowBytesI2B128(cols)
	out := make([]byte, rows*rb)
	for r := range rows {
		simd.PackI2B128(out[r*rb:(r+1)*rb], q[r*cols:(r+1)*cols])
	}
	return out
}

func f32Spec(name string, v []float32) mmapmodel.TensorSpec {
	return mmapmodel.TensorSpec{Name: name, DType: mmapmodel.F32, Shape: []mmapmodel.Elems{mmapmodel.Elems(len(v))}, Data: bytes.NewReader(f32Bytes(v))}
}

// t2Spec is the ternary tensor of a layer's current weights.
func t2Spec(l *Linear) mmapmodel.TensorSpec {
	q, g := l.QuantizedWeights()
	return mmapmodel.TensorSpec{Name: l.W.Name, DType: mmapmodel.T2, Shape: []mmapmodel.Elems{mmapmodel.Elems(l.Out), mmapmodel.Elems(l.In)},
		Scale: g, Data: bytes.NewReader(packT2(q, l.Out, l.In))}
}

// Export writes the quantized model to path in the BAREWire format
// (architecture "mlp"): slot input (input.mean, input.inv_std), one slot
// per hidden layer (hidden.k.weight t2 with γ as its scale,
// hidden.k.norm.weight, hidden.k.bias) and slot head (head.weight t2,
// head.norm.weight, head.bias, labels).
func (m *MLP) Export(path string) error {
	c := m.Config
	params := []mmapmodel.Param{
		mmapmodel.StringParam("activation", "relu"),
		mmapmodel.IntParam("hidden_layers", int64(len(c.Hidden))),
		mmapmodel.IntParam("input_dim", int64(c.Inputs)),
		mmapmodel.FloatParam("norm_eps", float64(m.Layers[0].Eps)),
		mmapmodel.IntParam("num_classes", int64(c.Classes)),
		mmapmodel.IntParam("seed", int64(c.Seed)),
	}
	if len(c.Hidden) > 0 {
		params = append(params, mmapmodel.IntParam("hidden_dim", int64(c.Hidden[0])))
	}
	if c.Task != "" {
		params = append(params, mmapmodel.StringParam("task", c.Task))
	}
	w := mmapmodel.NewWriter(path, "mlp", sortParams(params))
	w.BeginComponent("input")
	w.Add(f32Spec("input.mean", m.mean))
	w.Add(f32Spec("input.inv_std", m.invStd))
	for k, l := range m.Layers {
		if k < len(m.Layers)-1 {
			w.BeginComponent(fmt.Sprintf("hidden.%d", k))
		} else {
			w.BeginComponent("head")
		}
		w.Add(t2Spec(l))
		if l.Norm != nil {
			w.Add(f32Spec(l.Norm.Name, l.Norm.W))
		}
		w.Add(f32Spec(l.Bias.Name, l.Bias.W))
	}
	labels := []byte(strings.Join(c.Labels, "\n") + "\n")
	w.Add(mmapmodel.TensorSpec{Name: "labels", DType: mmapmodel.U8, Shape: []mmapmodel.Elems{mmapmodel.Elems(len(labels))}, Data: bytes.NewReader(labels)})
	if err := w.Err(); err != nil {
		return err
	}
	_, err := w.Commit()
	return err
}
