package ggufwrite

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"os"

	"github.com/speakez/barewire/mmapmodel/gguf"
)

// Array is an explicitly typed array value; use it for nested arrays and
// empty arrays. Values holds Go values of the element type (or Arrays).
type Array struct {
	Elem   gguf.ValueType
	Values []any
}

// Raw is a metadata value written verbatim after its type tag, for building
// invalid files.
type Raw struct {
	Type    gguf.ValueType
	Payload []byte
}

type kv struct {
	key string
	val any
}

type tensor struct {
	name string
	typ  gguf.GGMLType
	dims []uint64
	data []byte
}

// Writer accumulates metadata and tensors; Encode lays them out.
type Writer struct {
	// Version written in the header; 0 means 3.
	Version uint32
	// Alignment, when nonzero, is written as general.alignment (uint32) and
	// used to place tensors; zero means the default 32 without the key.
	Alignment uint32
	// Unchecked skips the check that each tensor's data has the size its
	// type and dims imply.
	Unchecked bool

	kvs     []kv
	tensors []tensor
}

// Layout gives the file offsets of the regions of an encoded file.
type Layout struct {
	KVStart           int   // first metadata pair (= 24)
	KVOffsets         []int // each metadata pair
	TensorInfoStart   int
	TensorInfoOffsets []int // each tensor info
	DataStart         int   // tensor data section
	TensorOffsets     []int // each tensor's data, absolute
	Size              int
}

// Add appends a metadata pair. v is one of uint8, int8, uint16, int16,
// uint32, int32, float32, bool, string, uint64, int64, float64, a slice of
// one of those, an Array, or a Raw.
func (w *Writer) Add(key string, v any) *Writer {
	w.kvs = append(w.kvs, kv{key, v})
	return w
}

// AddTensor appends a tensor; dims are in ggml order (dims[0] contiguous).
func (w *Writer) AddTensor(name string, typ gguf.GGMLType, dims []uint64, data []byte) *Writer {
	w.tensors = append(w.tensors, tensor{name, typ, dims, data})
	return w
}

func putString(b *bytes.Buffer, s string) {
	_ = binary.Write(b, binary.LittleEndian, uint64(len(s)))
	b.WriteString(s)
}

func typeOf(v any) (gguf.ValueType, error) {
	switch v := v.(type) {
	case uint8:
		return gguf.Uint8, nil
	case int8:
		return gguf.Int8, nil
	case uint16:
		return gguf.Uint16, nil
	case int16:
		return gguf.Int16, nil
	case uint32:
		return gguf.Uint32, nil
	case int32:
		return gguf.Int32, nil
	case float32:
		return gguf.Float32, nil
	case bool:
		return gguf.Bool, nil
	case string:
		return gguf.String, nil
	case uint64:
		return gguf.Uint64, nil
	case int64:
		return gguf.Int64, nil
	case float64:
		return gguf.Float64, nil
	case Raw:
		return v.Type, nil
	case Array, []uint8, []int8, []uint16, []int16, []uint32, []int32, []float32, []bool, []string, []uint64, []int64, []float64:
		return gguf.Array, nil
	}
	return 0, fmt.Errorf("ggufwrite: unsupported value type %T", v)
}

// putValue writes v's payload (not its type tag).
func putValue(b *bytes.Buffer, v any) error {
	le := binary.LittleEndian
	switch v := v.(type) {
	case string:
		putString(b, v)
	case bool:
		if v {
			b.WriteByte(1)
		} else {
			b.WriteByte(0)
		}
	case Raw:
		b.Write(v.Payload)
	case Array:
		_ = binary.Write(b, le, uint32(v.Elem))
		_ = binary.Write(b, le, uint64(len(v.Values)))
		for _, e := range v.Values {
			if t, err := typeOf(e); err != nil || t != v.Elem {
				return fmt.Errorf("ggufwrite: array of %s holds %T", v.Elem, e)
			}
			if err := putValue(b, e); err != nil {
				return err
			}
		}
	case []string:
		return putValue(b, toArray(gguf.String, v))
	case []bool:
		return putValue(b, toArray(gguf.Bool, v))
	case []uint8, []int8, []uint16, []int16, []uint32, []int32, []float32, []uint64, []int64, []float64:
		var et gguf.ValueType
		var n int
		switch s := v.(type) {
		case []uint8:
			et, n = gguf.Uint8, len(s)
		case []int8:
			et, n = gguf.Int8, len(s)
		case []uint16:
			et, n = gguf.Uint16, len(s)
		case []int16:
			et, n = gguf.Int16, len(s)
		case []uint32:
			et, n = gguf.Uint32, len(s)
		case []int32:
			et, n = gguf.Int32, len(s)
		case []float32:
			et, n = gguf.Float32, len(s)
		case []uint64:
			et, n = gguf.Uint64, len(s)
		case []int64:
			et, n = gguf.Int64, len(s)
		case []float64:
			et, n = gguf.Float64, len(s)
		}
		_ = binary.Write(b, le, uint32(et))
		_ = binary.Write(b, le, uint64(n))
		_ = binary.Write(b, le, v)
	default:
		if _, err := typeOf(v); err != nil {
			return err
		}
		_ = binary.Write(b, le, v)
	}
	return nil
}

func toArray[T any](et gguf.ValueType, s []T) Array {
	a := Array{Elem: et, Values: make([]any, len(s))}
	for i, x := range s {
		a.Values[i] = x
	}
	return a
}

// Encode lays out the file: header, metadata, tensor infos, padding to the
// alignment, and each tensor's data at the next aligned offset with zero
// padding between them.
func (w *Writer) Encode() ([]byte, Layout, error) {
	var b bytes.Buffer
	var lay Layout
	le := binary.LittleEndian
	version := w.Version
	if version == 0 {
		version = 3
	}
	align := uint64(gguf.DefaultAlignment)
	kvs := w.kvs
	if w.Alignment != 0 {
		align = uint64(w.Alignment)
		kvs = append(kvs[:len(kvs):len(kvs)], kv{"general.alignment", w.Alignment})
	}
	b.WriteString(gguf.Magic)
	_ = binary.Write(&b, le, version)
	_ = binary.Write(&b, le, uint64(len(w.tensors)))
	_ = binary.Write(&b, le, uint64(len(kvs)))
	lay.KVStart = b.Len()
	for _, p := range kvs {
		lay.KVOffsets = append(lay.KVOffsets, b.Len())
		t, err := typeOf(p.val)
		if err != nil {
			return nil, lay, fmt.Errorf("key %q: %w", p.key, err)
		}
		putString(&b, p.key)
		_ = binary.Write(&b, le, uint32(t))
		if err := putValue(&b, p.val); err != nil {
			return nil, lay, fmt.Errorf("key %q: %w", p.key, err)
		}
	}
	lay.TensorInfoStart = b.Len()
	offsets := make([]uint64, len(w.tensors))
	var off uint64
	for i, t := range w.tensors {
		if !w.Unchecked {
			want, err := gguf.TensorSize(t.typ, t.dims)
			if err != nil {
				return nil, lay, fmt.Errorf("tensor %q: %w", t.name, err)
			}
			if want != uint64(len(t.data)) {
				return nil, lay, fmt.Errorf("ggufwrite: tensor %q: %d bytes of data, %s %v needs %d", t.name, len(t.data), t.typ, t.dims, want)
			}
		}
		offsets[i] = off
		off = (off + uint64(len(t.data)) + align - 1) / align * align
		lay.TensorInfoOffsets = append(lay.TensorInfoOffsets, b.Len())
		putString(&b, t.name)
		_ = binary.Write(&b, le, uint32(len(t.dims)))
		_ = binary.Write(&b, le, t.dims)
		_ = binary.Write(&b, le, uint32(t.typ))
		_ = binary.Write(&b, le, offsets[i])
	}
	if len(w.tensors) > 0 {
		for uint64(b.Len())%align != 0 {
			b.WriteByte(0)
		}
	}
	lay.DataStart = b.Len()
	for i, t := range w.tensors {
		for uint64(b.Len()-lay.DataStart) < offsets[i] {
			b.WriteByte(0)
		}
		lay.TensorOffsets = append(lay.TensorOffsets, b.Len())
		b.Write(t.data)
	}
	lay.Size = b.Len()
	return b.Bytes(), lay, nil
}

// WriteFile encodes the file and writes it to path.
func (w *Writer) WriteFile(path string) (Layout, error) {
	data, lay, err := w.Encode()
	if err != nil {
		return lay, err
	}
	return lay, os.WriteFile(path, data, 0o644)
}

// F32Bytes encodes float32 values little-endian, for tensor data.
func F32Bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}
