package testmodel

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/speakez/barewire/mmapmodel"
	"github.com/speakez/barewire/mmapmodel/internal/i2b128"
)

// Seed is the seed of the MLP's weights.
const Seed = 20261126

// MLP shape.
const (
	InputDim   = 784
	HiddenDim  = 64
	NumClasses = 10
)

// File and directory names under testdata/.
const (
	MLPFile    = "mlp-tiny.bwm"
	MLPRelease = "mlp-tiny-release"
)

type splitmix64 uint64

func (s *splitmix64) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// uniform returns a float in [-1, 1) from the top 24 bits.
func (s *splitmix64) uniform() float32 {
	return float32(s.next()>>40)/float32(1<<23) - 1
}

// ternary returns -1, 0 or +1, with zero half the time (typical of
// absmean-quantized BitNet weights).
func (s *splitmix64) ternary() int8 {
	switch s.next() % 4 {
	case 0:
		return -1
	case 1:
		return 1
	}
	return 0
}

func f32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// component is one slot's tensors.
type component struct {
	slot    string
	tensors []mmapmodel.TensorSpec
	data    [][]byte // kept so specs can be rebuilt with fresh readers
}

func (c *component) specs() []mmapmodel.TensorSpec {
	out := make([]mmapmodel.TensorSpec, len(c.tensors))
	for i, t := range c.tensors {
		t.Data = bytes.NewReader(c.data[i])
		out[i] = t
	}
	return out
}

func (c *component) add(t mmapmodel.TensorSpec, b []byte) {
	c.tensors = append(c.tensors, t)
	c.data = append(c.data, b)
}

// MLPParams are the MLP's hyper-parameters.
func MLPParams() []mmapmodel.Param {
	return []mmapmodel.Param{
		mmapmodel.StringParam("activation", "relu"),
		mmapmodel.IntParam("hidden_dim", HiddenDim),
		mmapmodel.IntParam("input_dim", InputDim),
		mmapmodel.IntParam("num_classes", NumClasses),
		mmapmodel.IntParam("seed", Seed),
		mmapmodel.StringParam("task", "mnist-digits"),
	}
}

// mlp builds the MLP's components:
//
//	input:    input.mean, input.inv_std  f32 [784]   x' = (x - mean) * inv_std
//	hidden.0: hidden.0.weight t2 [64,784] (i2b128, scale), hidden.0.bias f32 [64]
//	          h = relu(scale * (W · x') + bias)
//	head:     head.weight i8 [10,64] with row scales, head.bias f32 [10],
//	          labels u8 (one label per line)
//	          logits[r] = scales[r] * (W8[r] · h) + bias[r]
func mlp() []*component {
	rng := splitmix64(Seed)
	in := &component{slot: "input"}
	mean := make([]float32, InputDim)
	invStd := make([]float32, InputDim)
	for i := range mean {
		// MNIST's pixel mean and standard deviation (0.1307, 0.3081) in 0..255 units.
		mean[i] = 0.1307 * 255
		invStd[i] = 1 / (0.3081 * 255)
	}
	in.add(mmapmodel.TensorSpec{Name: "input.mean", DType: mmapmodel.F32, Shape: []mmapmodel.Elems{InputDim}}, f32Bytes(mean))
	in.add(mmapmodel.TensorSpec{Name: "input.inv_std", DType: mmapmodel.F32, Shape: []mmapmodel.Elems{InputDim}}, f32Bytes(invStd))

	hid := &component{slot: "hidden.0"}
	w := make([]int8, HiddenDim*InputDim)
	for i := range w {
		w[i] = rng.ternary()
	}
	packed, err := i2b128.Pack(w, HiddenDim, InputDim)
	if err != nil {
		panic(err) // the weights above are ternary by construction
	}
	bias := make([]float32, HiddenDim)
	for i := range bias {
		bias[i] = rng.uniform() * 0.1
	}
	hid.add(mmapmodel.TensorSpec{Name: "hidden.0.weight", DType: mmapmodel.T2, Shape: []mmapmodel.Elems{HiddenDim, InputDim}, Scale: 0.0625}, packed)
	hid.add(mmapmodel.TensorSpec{Name: "hidden.0.bias", DType: mmapmodel.F32, Shape: []mmapmodel.Elems{HiddenDim}}, f32Bytes(bias))

	head := &component{slot: "head"}
	w8 := make([]byte, NumClasses*HiddenDim)
	for i := range w8 {
		w8[i] = byte(int8(rng.next()%255) - 127) // -127..127, symmetric like absmax int8
	}
	scales := make([]float32, NumClasses)
	for i := range scales {
		scales[i] = (rng.uniform() + 2) / 1024
	}
	hb := make([]float32, NumClasses)
	for i := range hb {
		hb[i] = rng.uniform() * 0.01
	}
	var labels bytes.Buffer
	for i := 0; i < NumClasses; i++ {
		fmt.Fprintf(&labels, "%d\n", i)
	}
	head.add(mmapmodel.TensorSpec{Name: "head.weight", DType: mmapmodel.I8, Shape: []mmapmodel.Elems{NumClasses, HiddenDim}, Scales: scales}, w8)
	head.add(mmapmodel.TensorSpec{Name: "head.bias", DType: mmapmodel.F32, Shape: []mmapmodel.Elems{NumClasses}}, f32Bytes(hb))
	head.add(mmapmodel.TensorSpec{Name: "labels", DType: mmapmodel.U8, Shape: []mmapmodel.Elems{mmapmodel.Elems(labels.Len())}}, labels.Bytes())
	return []*component{in, hid, head}
}

// WriteMLP writes the single-file MLP to path.
func WriteMLP(path string) error {
	w := mmapmodel.NewWriter(path, "mlp", MLPParams())
	for _, c := range mlp() {
		w.BeginComponent(c.slot)
		for _, s := range c.specs() {
			w.Add(s)
		}
	}
	_, err := w.Commit()
	return err
}

// WriteMLPRelease writes the MLP as a release directory at dir. Files
// already there that the release does not name are removed, so the
// directory is exactly the release.
func WriteMLPRelease(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	rw, err := mmapmodel.NewReleaseWriter(dir, "mlp", MLPParams())
	if err != nil {
		return err
	}
	for _, c := range mlp() {
		w := rw.Component(c.slot)
		for _, s := range c.specs() {
			w.Add(s)
		}
		if _, err := w.Commit(); err != nil {
			return err
		}
	}
	_, err = rw.Commit()
	return err
}

// WriteTiny writes a small file with one tensor of every dtype, for fuzz
// seeds and tests of every view.
func WriteTiny(path string) error {
	rng := splitmix64(7)
	w := mmapmodel.NewWriter(path, "tiny", []mmapmodel.Param{
		mmapmodel.FloatParam("eps", 1e-5), mmapmodel.IntParam("n", 3), mmapmodel.StringParam("note", "every dtype"),
	})
	w.BeginComponent("a")
	tw := make([]int8, 2*130)
	for i := range tw {
		tw[i] = rng.ternary()
	}
	p, _ := i2b128.Pack(tw, 2, 130)
	w.Add(mmapmodel.TensorSpec{Name: "t2", DType: mmapmodel.T2, Shape: []mmapmodel.Elems{2, 130}, Scale: 0.5, Data: bytes.NewReader(p)})
	t16 := make([]byte, 32)
	for i := range t16 {
		v := rng.next() % 243 // a 5-trit value, stored as ceil(v·256/243) (docs/FORMAT.md)
		t16[i] = byte((v*256 + 242) / 243)
	}
	w.Add(mmapmodel.TensorSpec{Name: "t16", DType: mmapmodel.T16, Shape: []mmapmodel.Elems{1, 160}, Scale: 0.25, Data: bytes.NewReader(t16)})
	w.Add(mmapmodel.TensorSpec{Name: "i8", DType: mmapmodel.I8, Shape: []mmapmodel.Elems{2, 3}, Scales: []float32{0.5, 2},
		Data: bytes.NewReader([]byte{1, 2, 3, 0xff, 0xfe, 0x80})})
	w.BeginComponent("b")
	w.Add(mmapmodel.TensorSpec{Name: "f16", DType: mmapmodel.F16, Shape: []mmapmodel.Elems{2}, Data: bytes.NewReader([]byte{0x00, 0x3c, 0x00, 0xc0})})
	w.Add(mmapmodel.TensorSpec{Name: "bf16", DType: mmapmodel.BF16, Shape: []mmapmodel.Elems{2}, Data: bytes.NewReader([]byte{0x80, 0x3f, 0x00, 0x40})})
	w.Add(mmapmodel.TensorSpec{Name: "f32", DType: mmapmodel.F32, Shape: []mmapmodel.Elems{3}, Data: bytes.NewReader(f32Bytes([]float32{1, -2, 0.5}))})
	w.Add(mmapmodel.TensorSpec{Name: "blob", DType: mmapmodel.U8, Shape: []mmapmodel.Elems{5}, Data: bytes.NewReader([]byte("hello"))})
	_, err := w.Commit()
	return err
}

// WriteAll writes the MLP file and release into dir (testdata/).
func WriteAll(dir string) error {
	if err := WriteMLP(filepath.Join(dir, MLPFile)); err != nil {
		return err
	}
	return WriteMLPRelease(filepath.Join(dir, MLPRelease))
}
