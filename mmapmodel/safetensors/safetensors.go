package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"slices"
	"unicode/utf8"

	"github.com/edsrzf/mmap-go"
)

// Sentinel errors; every error this package returns about file contents
// wraps one of them.
var (
	// ErrFormat: the bytes are not a valid safetensors file or index.
	ErrFormat = errors.New("safetensors: invalid file")
	// ErrUnsupported: a dtype this package does not know.
	ErrUnsupported = errors.New("safetensors: unsupported")
	// ErrNotFound: a tensor, shard or weights file is absent.
	ErrNotFound = errors.New("not found")
)

// MaxHeaderSize bounds the JSON header (the reference implementation's
// limit, tensor.rs MAX_HEADER_SIZE).
const MaxHeaderSize = 100_000_000

// DType is a safetensors dtype name.
type DType string

// The dtypes of the format (tensor.rs enum Dtype).
const (
	BOOL       DType = "BOOL"
	U8         DType = "U8"
	I8         DType = "I8"
	I16        DType = "I16"
	U16        DType = "U16"
	F16        DType = "F16"
	BF16       DType = "BF16"
	I32        DType = "I32"
	U32        DType = "U32"
	F32        DType = "F32"
	F64        DType = "F64"
	I64        DType = "I64"
	U64        DType = "U64"
	C64        DType = "C64"
	F8E4M3     DType = "F8_E4M3"
	F8E5M2     DType = "F8_E5M2"
	F8E8M0     DType = "F8_E8M0"
	F8E4M3FNUZ DType = "F8_E4M3FNUZ"
	F8E5M2FNUZ DType = "F8_E5M2FNUZ"
	F4         DType = "F4"
	F6E2M3     DType = "F6_E2M3"
	F6E3M2     DType = "F6_E3M2"
)

var dtypeBits = map[DType]uint64{
	BOOL: 8, U8: 8, I8: 8, I16: 16, U16: 16, F16: 16, BF16: 16, I32: 32, U32: 32, F32: 32,
	F64: 64, I64: 64, U64: 64, C64: 64, F8E4M3: 8, F8E5M2: 8, F8E8M0: 8, F8E4M3FNUZ: 8,
	F8E5M2FNUZ: 8, F4: 4, F6E2M3: 6, F6E3M2: 6,
}

// Bits returns the element size in bits (0 for an unknown dtype).
func (d DType) Bits() uint64 { return dtypeBits[d] }

// TensorInfo describes one tensor. Begin and End are relative to the byte
// buffer, which starts at File.DataOffset.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []uint64
	Begin uint64
	End   uint64
}

// Elements returns the product of the shape (1 for a scalar).
func (t TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Shape {
		n *= d // checked for overflow when the file was opened
	}
	return n
}

// File is one opened safetensors file.
type File struct {
	// Metadata is the header's __metadata__ map (empty if absent).
	Metadata map[string]string
	// HeaderSize is the JSON header length N; DataOffset = 8 + N.
	HeaderSize uint64
	DataOffset uint64

	tensors []TensorInfo
	index   map[string]int
	data    []byte
	mapping mmap.MMap
}

// Open maps path read-only and parses it. Close releases the mapping.
func Open(path string) (*File, error) {
	if err := regularFile(path); err != nil {
		return nil, err
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() < 8 {
		return nil, fmt.Errorf("%w: %s: file is %d bytes, shorter than the 8-byte header length", ErrFormat, path, st.Size())
	}
	if uint64(st.Size()) > math.MaxInt {
		return nil, fmt.Errorf("%w: %s: file of %d bytes cannot be mapped on this platform", ErrUnsupported, path, st.Size())
	}
	m, err := mmap.Map(fh, mmap.RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: map: %w", path, err)
	}
	f, err := Parse(m)
	if err != nil {
		_ = m.Unmap()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.mapping = m
	return f, nil
}

// Close unmaps the file; slices from TensorData must not be used after.
func (f *File) Close() error {
	f.data = nil
	if f.mapping == nil {
		return nil
	}
	m := f.mapping
	f.mapping = nil
	return m.Unmap()
}

type rawTensor struct {
	DType       *string   `json:"dtype"`
	Shape       *[]uint64 `json:"shape"`
	DataOffsets *[]uint64 `json:"data_offsets"`
}

// Parse parses a whole safetensors file held in memory.
func Parse(data []byte) (*File, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("%w: file is %d bytes, shorter than the 8-byte header length", ErrFormat, len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("%w: header length %d exceeds the limit of %d bytes", ErrFormat, n, MaxHeaderSize)
	}
	if n > uint64(len(data)-8) {
		return nil, fmt.Errorf("%w: header length %d past end of file (%d bytes after the length)", ErrFormat, n, len(data)-8)
	}
	header := data[8 : 8+n]
	if len(header) == 0 || header[0] != '{' {
		return nil, fmt.Errorf("%w: header does not start with '{'", ErrFormat)
	}
	if !utf8.Valid(header) {
		return nil, fmt.Errorf("%w: header is not valid UTF-8", ErrFormat)
	}
	f := &File{HeaderSize: n, DataOffset: 8 + n, data: data, Metadata: map[string]string{}, index: map[string]int{}}
	dataLen := uint64(len(data)) - f.DataOffset

	dec := json.NewDecoder(bytes.NewReader(header))
	dec.UseNumber()
	seenMeta := false
	err := objectEntries(dec, func(key string) error {
		if key == "__metadata__" {
			if seenMeta {
				return fmt.Errorf("key %q appears twice", key)
			}
			seenMeta = true
			return stringMap(dec, func(k, v string) error {
				if _, dup := f.Metadata[k]; dup {
					return fmt.Errorf("__metadata__ key %q appears twice", k)
				}
				f.Metadata[k] = v
				return nil
			})
		}
		if _, dup := f.index[key]; dup {
			return fmt.Errorf("tensor %q appears twice", key)
		}
		var rt rawTensor
		if err := dec.Decode(&rt); err != nil {
			return fmt.Errorf("tensor %q: %v", key, err)
		}
		t, err := checkTensor(key, rt, dataLen)
		if err != nil {
			return err
		}
		f.index[key] = len(f.tensors)
		f.tensors = append(f.tensors, t)
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrUnsupported) || errors.Is(err, ErrFormat) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: header: %v", ErrFormat, err)
	}
	// Only padding (spaces, as writers pad) may follow the object.
	if rest := header[dec.InputOffset():]; len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: header has data after the JSON object", ErrFormat)
	}
	// The tensors must tile the byte buffer exactly (tensor.rs validate:
	// sorted by offsets, each starts where the previous ended, the last ends
	// at the end of the buffer).
	order := make([]int, len(f.tensors))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ta, tb := f.tensors[a], f.tensors[b]
		if ta.Begin != tb.Begin {
			return cmpU64(ta.Begin, tb.Begin)
		}
		return cmpU64(ta.End, tb.End)
	})
	var pos uint64
	prev := ""
	for _, i := range order {
		t := f.tensors[i]
		if t.Begin < pos {
			return nil, fmt.Errorf("%w: tensor %q: data_offsets [%d, %d] overlap tensor %q, which ends at %d", ErrFormat, t.Name, t.Begin, t.End, prev, pos)
		}
		if t.Begin > pos {
			return nil, fmt.Errorf("%w: tensor %q: data_offsets begin at %d, leaving bytes %d..%d of the buffer unused", ErrFormat, t.Name, t.Begin, pos, t.Begin)
		}
		pos, prev = t.End, t.Name
	}
	if pos != dataLen {
		return nil, fmt.Errorf("%w: tensors cover %d bytes of the %d-byte buffer", ErrFormat, pos, dataLen)
	}
	return f, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func checkTensor(name string, rt rawTensor, dataLen uint64) (TensorInfo, error) {
	if rt.DType == nil || rt.Shape == nil || rt.DataOffsets == nil {
		return TensorInfo{}, fmt.Errorf("%w: tensor %q: needs dtype, shape and data_offsets", ErrFormat, name)
	}
	t := TensorInfo{Name: name, DType: DType(*rt.DType), Shape: *rt.Shape}
	b := t.DType.Bits()
	if b == 0 {
		return TensorInfo{}, fmt.Errorf("%w: tensor %q: dtype %q", ErrUnsupported, name, *rt.DType)
	}
	if len(*rt.DataOffsets) != 2 {
		return TensorInfo{}, fmt.Errorf("%w: tensor %q: data_offsets has %d values, want 2", ErrFormat, name, len(*rt.DataOffsets))
	}
	t.Begin, t.End = (*rt.DataOffsets)[0], (*rt.DataOffsets)[1]
	nel := uint64(1)
	for i, d := range t.Shape {
		hi, lo := bits.Mul64(nel, d)
		if hi != 0 {
			return TensorInfo{}, fmt.Errorf("%w: tensor %q: shape %v overflows at dim %d", ErrFormat, name, t.Shape, i)
		}
		nel = lo
	}
	hi, nbits := bits.Mul64(nel, b)
	if hi != 0 {
		return TensorInfo{}, fmt.Errorf("%w: tensor %q: shape %v × %d bits overflows", ErrFormat, name, t.Shape, b)
	}
	if nbits%8 != 0 {
		return TensorInfo{}, fmt.Errorf("%w: tensor %q: %d elements of %s are not a whole number of bytes", ErrFormat, name, nel, t.DType)
	}
	size := nbits / 8
	if t.End < t.Begin {
		return TensorInfo{}, fmt.Errorf("%w: tensor %q: data_offsets [%d, %d] end before they begin", ErrFormat, name, t.Begin, t.End)
	}
	if t.End-t.Begin != size {
		return TensorInfo{}, fmt.Errorf("%w: tensor %q: data_offsets [%d, %d] span %d bytes, %s %v needs %d", ErrFormat, name, t.Begin, t.End, t.End-t.Begin, t.DType, t.Shape, size)
	}
	if t.End > dataLen {
		return TensorInfo{}, fmt.Errorf("%w: tensor %q: data_offsets end %d past end of data (%d bytes)", ErrFormat, name, t.End, dataLen)
	}
	return t, nil
}

// objectEntries reads a JSON object from dec and calls fn for each key with
// the decoder positioned at its value; fn must consume the value.
func objectEntries(dec *json.Decoder, fn func(key string) error) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("want a JSON object, got %v", tok)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("want an object key, got %v", tok)
		}
		if err := fn(key); err != nil {
			return err
		}
	}
	_, err = dec.Token() // '}'
	return err
}

// stringMap reads a JSON object of strings, calling fn per pair (so that
// duplicate keys, which encoding/json would merge, can be refused).
func stringMap(dec *json.Decoder, fn func(k, v string) error) error {
	return objectEntries(dec, func(k string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		v, ok := tok.(string)
		if !ok {
			return fmt.Errorf("value of %q is %v, want a string", k, tok)
		}
		return fn(k, v)
	})
}

// Tensors returns the tensor infos in header order.
func (f *File) Tensors() []TensorInfo { return f.tensors }

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.index[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.tensors[i], true
}

// TensorData returns the named tensor's bytes, a slice of the mapping (no
// copy). It may be unaligned: decode it with the helpers of this package,
// not by reinterpreting the memory.
func (f *File) TensorData(name string) ([]byte, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("safetensors: tensor %q: %w", name, ErrNotFound)
	}
	if f.data == nil {
		return nil, fmt.Errorf("safetensors: tensor %q: file is closed", name)
	}
	b := f.DataOffset + t.Begin
	e := f.DataOffset + t.End
	return f.data[b:e:e], nil
}
