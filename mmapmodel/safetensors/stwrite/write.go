package stwrite

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/speakez/barewire/mmapmodel/safetensors"
)

type tensor struct {
	name  string
	dtype safetensors.DType
	shape []uint64
	data  []byte
}

// Writer accumulates tensors and metadata.
type Writer struct {
	// Metadata is written as __metadata__ when non-empty.
	Metadata map[string]string
	// Unchecked skips the check that each tensor's data has the size its
	// dtype and shape imply.
	Unchecked bool

	tensors []tensor
}

// Add appends a tensor.
func (w *Writer) Add(name string, dtype safetensors.DType, shape []uint64, data []byte) *Writer {
	w.tensors = append(w.tensors, tensor{name, dtype, shape, data})
	return w
}

// Header returns the JSON header (unpadded) the writer would emit.
func (w *Writer) Header() (string, error) {
	var sb strings.Builder
	sb.WriteByte('{')
	first := true
	sep := func() {
		if !first {
			sb.WriteByte(',')
		}
		first = false
	}
	if len(w.Metadata) > 0 {
		sep()
		m, _ := json.Marshal(w.Metadata)
		sb.WriteString(`"__metadata__":`)
		sb.Write(m)
	}
	var off uint64
	for _, t := range w.tensors {
		if !w.Unchecked {
			n := uint64(1)
			for _, d := range t.shape {
				n *= d
			}
			if t.dtype.Bits() == 0 || n*t.dtype.Bits()/8 != uint64(len(t.data)) {
				return "", fmt.Errorf("stwrite: tensor %q: %d bytes do not hold %s %v", t.name, len(t.data), t.dtype, t.shape)
			}
		}
		sep()
		name, _ := json.Marshal(t.name)
		shape := t.shape
		if shape == nil {
			shape = []uint64{}
		}
		s, _ := json.Marshal(shape)
		fmt.Fprintf(&sb, `%s:{"dtype":%q,"shape":%s,"data_offsets":[%d,%d]}`, name, t.dtype, s, off, off+uint64(len(t.data)))
		off += uint64(len(t.data))
	}
	sb.WriteByte('}')
	return sb.String(), nil
}

// Encode returns the whole file.
func (w *Writer) Encode() ([]byte, error) {
	h, err := w.Header()
	if err != nil {
		return nil, err
	}
	var data []byte
	for _, t := range w.tensors {
		data = append(data, t.data...)
	}
	return Assemble(h, data), nil
}

// WriteFile encodes the file and writes it to path.
func (w *Writer) WriteFile(path string) error {
	b, err := w.Encode()
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// Assemble builds a file from any header text (padded with spaces to a
// multiple of 8) and byte buffer; tests use it to build invalid files.
func Assemble(header string, data []byte) []byte {
	for len(header)%8 != 0 {
		header += " "
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	out = append(out, header...)
	return append(out, data...)
}

// WriteIndex writes a model.safetensors.index.json mapping tensors to shard
// file names.
func WriteIndex(path string, weightMap map[string]string, metadata map[string]any) error {
	b, err := json.MarshalIndent(map[string]any{"metadata": metadata, "weight_map": weightMap}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// F32Bytes encodes float32 values little-endian.
func F32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// BF16Bytes encodes float32 values as bfloat16, rounding to nearest even.
func BF16Bytes(v []float32) []byte {
	b := make([]byte, 2*len(v))
	for i, f := range v {
		u := math.Float32bits(f)
		u += 0x7fff + (u>>16)&1
		binary.LittleEndian.PutUint16(b[2*i:], uint16(u>>16))
	}
	return b
}
