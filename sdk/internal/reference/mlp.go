package reference

import "fmt"

// MLPConfig holds the hyper-parameters of a ternary MLP classifier. The model
// carries its own input normalization (DESIGN.md, edge-agent classify: inputs
// arrive in raw units, e.g. MNIST pixels 0..255):
//
//	x'[i] = (x[i]/InputDivisor − Mean[i]) / Std[i]
//
// where a Mean or Std of one element applies to every input. Each layer is a
// BitLinear (no activation between the last layer and the logits, ReLU after
// every other layer). With Norm set every BitLinear is a FusedBitLinear: its
// input is RMS-normalized with its own weight and NormEps before
// quantization, as in architectures.md §2.4; without it the BitLinear has no
// norm, as in BitNet's BitLinear (§1.2 "RMSNorm is placed outside BitLinear").
type MLPConfig struct {
	Name         string
	Inputs       int
	Hidden       []int // widths of the hidden layers
	Classes      int
	InputDivisor float64 // 255 for 8-bit pixels; 1 leaves inputs unscaled
	Mean, Std    []float64
	Norm         bool
	NormEps      float64
	Bias         bool // full-precision bias added after each BitLinear's output
}

// MNISTMLPConfig returns a 784-256-128-10 classifier with the usual MNIST
// normalization (x/255 − 0.1307)/0.3081, RMSNorm in every BitLinear (eps
// 1e-6) and biases.
func MNISTMLPConfig() MLPConfig {
	return MLPConfig{Name: "mnist-mlp", Inputs: 784, Hidden: []int{256, 128}, Classes: 10, InputDivisor: 255,
		Mean: []float64{0.1307}, Std: []float64{0.3081}, Norm: true, NormEps: 1e-6, Bias: true}
}

// SmallMLPConfig returns a 16-32-24-10 classifier for tests with the MNIST
// normalization constants, RMSNorm (eps 1e-6) and biases.
func SmallMLPConfig() MLPConfig {
	c := MNISTMLPConfig()
	c.Name, c.Inputs, c.Hidden = "small-mlp", 16, []int{32, 24}
	return c
}

func (c MLPConfig) widths() []int {
	w := append([]int{c.Inputs}, c.Hidden...)
	return append(w, c.Classes)
}

// Validate checks that the hyper-parameters are consistent.
func (c MLPConfig) Validate() error {
	for _, w := range c.widths() {
		if w <= 0 {
			return fmt.Errorf("reference: %s: layer widths must be positive: %v", c.Name, c.widths())
		}
	}
	if c.InputDivisor == 0 {
		return fmt.Errorf("reference: %s: InputDivisor is 0", c.Name)
	}
	for _, v := range [][]float64{c.Mean, c.Std} {
		if len(v) != 1 && len(v) != c.Inputs {
			return fmt.Errorf("reference: %s: Mean/Std need 1 or %d values, got %d", c.Name, c.Inputs, len(v))
		}
	}
	for _, s := range c.Std {
		if s == 0 {
			return fmt.Errorf("reference: %s: Std has a 0", c.Name)
		}
	}
	return nil
}

// MLP holds the float64 weights of a ternary MLP classifier. Layer k is named
// "layers.k".
type MLP struct {
	Config MLPConfig
	Layers []*BitLinear // len(Hidden)+1
	Biases [][]float64  // per layer [Out] when Config.Bias, else nil
}

// Validate checks every tensor against the configuration.
func (m *MLP) Validate() error {
	c := m.Config
	if err := c.Validate(); err != nil {
		return err
	}
	w := c.widths()
	if len(m.Layers) != len(w)-1 {
		return fmt.Errorf("%w: %d layers, want %d", ErrShape, len(m.Layers), len(w)-1)
	}
	for k, b := range m.Layers {
		if err := b.check(w[k+1], w[k], c.Norm); err != nil {
			return err
		}
		if c.Bias {
			if len(m.Biases) != len(m.Layers) {
				return fmt.Errorf("%w: %d bias vectors, want %d", ErrShape, len(m.Biases), len(m.Layers))
			}
			if err := checkVec(fmt.Sprintf("layers.%d.bias", k), m.Biases[k], w[k+1]); err != nil {
				return err
			}
		}
	}
	return nil
}

// Normalize applies the model's input normalization to raw inputs.
func (m *MLP) Normalize(x []float64) []float64 {
	c := m.Config
	if len(x) != c.Inputs {
		panic(fmt.Sprintf("reference: %s takes %d inputs, got %d", c.Name, c.Inputs, len(x)))
	}
	y := make([]float64, len(x))
	for i, v := range x {
		mean, std := c.Mean[0], c.Std[0]
		if len(c.Mean) > 1 {
			mean = c.Mean[i]
		}
		if len(c.Std) > 1 {
			std = c.Std[i]
		}
		y[i] = (v/c.InputDivisor - mean) / std
	}
	return y
}

// MLPSession evaluates an MLP in one mode. Records of its Trace carry the
// index of the input (0 for the first Classify call after Reset) as Pos.
type MLPSession struct {
	Model *MLP
	Mode  Mode
	Trace *Trace
	n     int
}

// NewSession returns a session evaluating m in the given mode.
func (m *MLP) NewSession(mode Mode) *MLPSession { return &MLPSession{Model: m, Mode: mode} }

// Reset restarts input numbering at 0.
func (s *MLPSession) Reset() { s.n = 0 }

// Classify returns the logits (unnormalized class scores) of one raw input.
func (s *MLPSession) Classify(x []float64) []float64 {
	m := s.Model
	h := m.Normalize(x)
	for k, b := range m.Layers {
		h = eval(b, h, s.Mode, s.n, s.Trace)
		if m.Config.Bias {
			for i := range h {
				h[i] += m.Biases[k][i]
			}
		}
		if k < len(m.Layers)-1 {
			for i := range h {
				h[i] = max(h[i], 0) // ReLU
			}
		}
	}
	s.n++
	return h
}
