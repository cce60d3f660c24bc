package convert

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/speakez/barewire/mmapmodel/gguf"
	"github.com/speakez/barewire/mmapmodel/safetensors"
	"github.com/speakez/barewire/mmapmodel/ternary"
)

// encoding is how a source tensor's bytes are stored.
type encoding int

const (
	encOther encoding = iota // anything the importer does not decode
	encF32
	encF16
	encBF16
	encU8  // Hugging Face packed ternary (four row chunks per byte)
	encI2S // bitnet.cpp I2_S
	encTQ1 // llama.cpp TQ1_0
	encTQ2 // llama.cpp TQ2_0
)

// srcTensor is one tensor of the input checkpoint, its shape in PyTorch
// order ([out, in] for a matrix; GGUF dims are reversed to get it).
type srcTensor struct {
	name  string
	enc   encoding
	typ   string // the container's own type name, for messages
	shape []int
	data  func() ([]byte, error)
}

func (t srcTensor) String() string { return fmt.Sprintf("%q (%s %v)", t.name, t.typ, t.shape) }

// container is an opened checkpoint: its tensors in file order.
type container struct {
	kind    string // "gguf" or "safetensors"
	tensors []srcTensor
	index   map[string]int
	closeFn func() error
}

func (c *container) lookup(name string) (srcTensor, bool) {
	i, ok := c.index[name]
	if !ok {
		return srcTensor{}, false
	}
	return c.tensors[i], true
}

func (c *container) add(t srcTensor) error {
	if _, dup := c.index[t.name]; dup {
		return fmt.Errorf("tensor %q appears twice", t.name)
	}
	c.index[t.name] = len(c.tensors)
	c.tensors = append(c.tensors, t)
	return nil
}

func (c *container) close() error {
	if c.closeFn == nil {
		return nil
	}
	return c.closeFn()
}

// ggufContainer lists a GGUF file's tensors. Type id 36 is I2_S only in a
// BitNet file (architectures.md §5.2: upstream ggml once used 36 for another
// type); elsewhere it is left undecodable.
func ggufContainer(f *gguf.File, bitnetArch bool) (*container, error) {
	c := &container{kind: "gguf", index: map[string]int{}}
	for _, ti := range f.Tensors() {
		t := srcTensor{name: ti.Name, typ: ti.Type.String()}
		for i := len(ti.Dims) - 1; i >= 0; i-- {
			if ti.Dims[i] > math.MaxInt32 {
				return nil, fmt.Errorf("tensor %q: dimension %d is too large", ti.Name, ti.Dims[i])
			}
			t.shape = append(t.shape, int(ti.Dims[i]))
		}
		switch ti.Type {
		case gguf.TypeF32:
			t.enc = encF32
		case gguf.TypeF16:
			t.enc = encF16
		case gguf.TypeBF16:
			t.enc = encBF16
		case gguf.TypeTQ1_0:
			t.enc = encTQ1
		case gguf.TypeTQ2_0:
			t.enc = encTQ2
		case gguf.TypeI2_S:
			if bitnetArch {
				t.enc, t.typ = encI2S, "I2_S"
			}
		}
		name := ti.Name
		t.data = func() ([]byte, error) { return f.TensorData(name) }
		if err := c.add(t); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// safetensorsContainer lists a safetensors checkpoint (one file or the
// shards of an index); data reads a tensor, closeFn releases the mappings.
// The container takes ownership of closeFn even on error.
func safetensorsContainer(infos []safetensors.TensorInfo, data func(string) ([]byte, error), closeFn func() error) (*container, error) {
	c := &container{kind: "safetensors", index: map[string]int{}, closeFn: closeFn}
	for _, st := range infos {
		t := srcTensor{name: st.Name, typ: string(st.DType)}
		for _, d := range st.Shape {
			if d > math.MaxInt32 {
				c.close()
				return nil, fmt.Errorf("tensor %q: dimension %d is too large", st.Name, d)
			}
			t.shape = append(t.shape, int(d))
		}
		switch st.DType {
		case safetensors.F32:
			t.enc = encF32
		case safetensors.F16:
			t.enc = encF16
		case safetensors.BF16:
			t.enc = encBF16
		case safetensors.U8:
			t.enc = encU8
		}
		name := st.Name
		t.data = func() ([]byte, error) { return data(name) }
		if err := c.add(t); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

func shardInfos(m *safetensors.Model) []safetensors.TensorInfo {
	var out []safetensors.TensorInfo
	for _, t := range m.Tensors() {
		out = append(out, t.TensorInfo)
	}
	return out
}

// denseType maps a float encoding to the ternary package's dtype.
func denseType(e encoding) ternary.DenseDType {
	switch e {
	case encF32:
		return ternary.F32
	case encF16:
		return ternary.F16
	case encBF16:
		return ternary.BF16
	}
	return 0
}

// floatAt decodes element i of little-endian float data (no alignment
// needed: safetensors tensors may start anywhere, architectures.md §5.3).
func floatAt(e encoding, b []byte, i int) float32 {
	switch e {
	case encF32:
		return math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	case encF16:
		return ternary.F16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
	default:
		return ternary.BF16ToF32(binary.LittleEndian.Uint16(b[2*i:]))
	}
}

// floats reads a whole float tensor of n elements, refusing NaN and
// infinities with the element's index.
func floats(t srcTensor, n int) ([]float32, error) {
	if denseType(t.enc) == 0 {
		return nil, fmt.Errorf("tensor %s: want F32, F16 or BF16", t)
	}
	b, err := t.data()
	if err != nil {
		return nil, err
	}
	es := denseType(t.enc).Size()
	if len(b) != n*es {
		return nil, fmt.Errorf("tensor %s: %d bytes, want %d", t, len(b), n*es)
	}
	out := make([]float32, n)
	for i := range out {
		f := floatAt(t.enc, b, i)
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return nil, fmt.Errorf("tensor %s: element %d is %v", t, i, f)
		}
		out[i] = f
	}
	return out, nil
}
