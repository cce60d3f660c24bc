package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"slices"
	"unicode/utf8"

	"github.com/edsrzf/mmap-go"
)

// Sentinel errors; every error this package returns wraps one of them.
var (
	// ErrFormat: the bytes are not a valid GGUF file.
	ErrFormat = errors.New("gguf: invalid file")
	// ErrUnsupported: a valid file this package does not read (GGUF v1,
	// big-endian files, unknown versions, value types or ggml types).
	ErrUnsupported = errors.New("gguf: unsupported")
	// ErrNotFound: a metadata key or tensor is absent.
	ErrNotFound = errors.New("not found")
	// ErrWrongType: a metadata value has another type than asked for.
	ErrWrongType = errors.New("wrong type")
)

// Magic is the first four bytes of a GGUF file.
const Magic = "GGUF"

const (
	// DefaultAlignment applies when general.alignment is absent.
	DefaultAlignment = 32
	// MaxAlignment bounds general.alignment.
	MaxAlignment = 1 << 20
	// MaxDims is GGML_MAX_DIMS.
	MaxDims = 4
	// MaxNameLen is the longest tensor name (GGML_MAX_NAME 64, including
	// the terminating NUL in ggml).
	MaxNameLen = 63
	// MaxKeyLen is the longest metadata key (docs/gguf.md: at most 2^16-1
	// bytes).
	MaxKeyLen = 1<<16 - 1
	// HeaderSize is magic, version, tensor count and metadata count.
	HeaderSize = 24
)

// KV is one metadata key and its value, in file order.
type KV struct {
	Key   string
	Value Value
}

// TensorInfo describes one tensor. Dims are in ggml order: Dims[0] is the
// contiguous (fastest varying) dimension, so a PyTorch [out, in] matrix has
// Dims = [in, out].
type TensorInfo struct {
	Name   string
	Dims   []uint64
	Type   GGMLType
	Offset uint64 // from the start of the tensor data section
	Size   uint64 // bytes, from the type and dims
}

// Elements returns the product of the dims.
func (t TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d // checked for overflow when the file was opened
	}
	return n
}

// File is an opened GGUF file.
type File struct {
	// Version is the GGUF version (2 or 3).
	Version uint32
	// Alignment is general.alignment or DefaultAlignment.
	Alignment uint64
	// DataOffset is the file offset of the tensor data section.
	DataOffset uint64

	kvs     []KV
	kvIndex map[string]int
	tensors []TensorInfo
	tIndex  map[string]int
	data    []byte
	mapping mmap.MMap
}

// Open maps path read-only and parses it. Close releases the mapping.
func Open(path string) (*File, error) {
	if st, err := os.Stat(path); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() { // a FIFO would block the open for ever
		return nil, fmt.Errorf("%w: %s is not a regular file (%v)", ErrFormat, path, st.Mode().Type())
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
	size := st.Size()
	if size < HeaderSize {
		return nil, fmt.Errorf("%w: %s: file is %d bytes, shorter than the %d-byte header", ErrFormat, path, size, HeaderSize)
	}
	if uint64(size) > math.MaxInt {
		return nil, fmt.Errorf("%w: %s: file of %d bytes cannot be mapped on this platform", ErrUnsupported, path, size)
	}
	m, err := mmap.Map(fh, mmap.RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("gguf: %s: map: %w", path, err)
	}
	f, err := Parse(m)
	if err != nil {
		_ = m.Unmap()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.mapping = m
	return f, nil
}

// Close unmaps the file. Slices returned by TensorData must not be used
// afterwards.
func (f *File) Close() error {
	f.data = nil
	if f.mapping == nil {
		return nil
	}
	m := f.mapping
	f.mapping = nil
	return m.Unmap()
}

// cursor reads little-endian fields from the file with bounds checks.
type cursor struct {
	b   []byte
	off int
}

func (c *cursor) need(n int, what string) error {
	if n < 0 || len(c.b)-c.off < n {
		return fmt.Errorf("%w: %s at offset %d needs %d bytes, %d left", ErrFormat, what, c.off, n, len(c.b)-c.off)
	}
	return nil
}

func (c *cursor) u32(what string) (uint32, error) {
	if err := c.need(4, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint32(c.b[c.off:])
	c.off += 4
	return v, nil
}

func (c *cursor) u64(what string) (uint64, error) {
	if err := c.need(8, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint64(c.b[c.off:])
	c.off += 8
	return v, nil
}

// str reads a GGUF string (u64 length + bytes) bounded by the bytes left.
func (c *cursor) str(what string) ([]byte, error) {
	n, err := c.u64(what + " length")
	if err != nil {
		return nil, err
	}
	if left := uint64(len(c.b) - c.off); n > left {
		return nil, fmt.Errorf("%w: %s length %d at offset %d past end of file (%d bytes left)", ErrFormat, what, n, c.off-8, left)
	}
	s := c.b[c.off : c.off+int(n)]
	c.off += int(n)
	return s, nil
}

// wrap adds context to a decodeValue error, keeping ErrUnsupported apart
// from ErrFormat.
func wrap(err error, format string, args ...any) error {
	sentinel := ErrFormat
	if errors.Is(err, ErrUnsupported) {
		sentinel = ErrUnsupported
	}
	return fmt.Errorf("%w: %s: %v", sentinel, fmt.Sprintf(format, args...), err)
}

// Parse parses a whole GGUF file held in memory (Open maps the file and
// calls it). The File refers to data without copying it.
func Parse(data []byte) (*File, error) {
	c := &cursor{b: data}
	if err := c.need(HeaderSize, "header"); err != nil {
		return nil, err
	}
	if string(data[:4]) != Magic {
		return nil, fmt.Errorf("%w: magic %q, want %q", ErrFormat, data[:4], Magic)
	}
	c.off = 4
	version, _ := c.u32("version")
	switch {
	case version == 2 || version == 3:
	case version == 1:
		return nil, fmt.Errorf("%w: GGUF version 1 (32-bit lengths); convert the file with a current llama.cpp", ErrUnsupported)
	case bits.ReverseBytes32(version) <= 3 && bits.ReverseBytes32(version) != 0:
		return nil, fmt.Errorf("%w: big-endian GGUF file (version field %#08x reads as %d byte-swapped)", ErrUnsupported, version, bits.ReverseBytes32(version))
	default:
		return nil, fmt.Errorf("%w: GGUF version %d (want 2 or 3)", ErrUnsupported, version)
	}
	nTensors, _ := c.u64("tensor count")
	nKV, _ := c.u64("metadata count")
	left := uint64(len(data) - c.off)
	// A key-value pair takes at least 8 (key length) + 1 (key) + 4 (type)
	// + 1 (value) bytes, a tensor info at least 8 + 1 + 4 + 4 + 8.
	if nKV > left/14 {
		return nil, fmt.Errorf("%w: metadata count %d cannot fit in the %d bytes left", ErrFormat, nKV, left)
	}
	if nTensors > left/25 {
		return nil, fmt.Errorf("%w: tensor count %d cannot fit in the %d bytes left", ErrFormat, nTensors, left)
	}
	// Preallocate for a real file's counts only: a hostile count is bounded
	// by the file size, but its slices would still be several times larger.
	const prealloc = 1024
	f := &File{
		Version:   version,
		Alignment: DefaultAlignment,
		kvs:       make([]KV, 0, min(nKV, prealloc)),
		kvIndex:   make(map[string]int, min(nKV, prealloc)),
		tensors:   make([]TensorInfo, 0, min(nTensors, prealloc)),
		tIndex:    make(map[string]int, min(nTensors, prealloc)),
		data:      data,
	}
	for i := uint64(0); i < nKV; i++ {
		kb, err := c.str(fmt.Sprintf("metadata %d key", i))
		if err != nil {
			return nil, err
		}
		if len(kb) == 0 || len(kb) > MaxKeyLen || !utf8.Valid(kb) {
			return nil, fmt.Errorf("%w: metadata %d key %.64q at offset %d: want 1..%d bytes of UTF-8", ErrFormat, i, kb, c.off-len(kb), MaxKeyLen)
		}
		key := string(kb)
		if _, dup := f.kvIndex[key]; dup {
			return nil, fmt.Errorf("%w: metadata key %q appears twice", ErrFormat, key)
		}
		vt, err := c.u32(fmt.Sprintf("key %q type", key))
		if err != nil {
			return nil, err
		}
		v, rest, err := decodeValue(c.b[c.off:], ValueType(vt), 0)
		if err != nil {
			return nil, wrap(err, "key %q at offset %d", key, c.off)
		}
		c.off = len(c.b) - len(rest)
		f.kvIndex[key] = len(f.kvs)
		f.kvs = append(f.kvs, KV{Key: key, Value: v})
	}
	if v, ok := f.Lookup("general.alignment"); ok {
		a, ok := v.Uint()
		if !ok || v.Type() == Array {
			return nil, fmt.Errorf("%w: key %q is %s, want an unsigned integer", ErrFormat, "general.alignment", v.Type())
		}
		if a == 0 || a&(a-1) != 0 || a > MaxAlignment {
			return nil, fmt.Errorf("%w: key %q is %d, want a power of two ≤ %d", ErrFormat, "general.alignment", a, MaxAlignment)
		}
		f.Alignment = a
	}
	for i := uint64(0); i < nTensors; i++ {
		t, err := readTensorInfo(c, i)
		if err != nil {
			return nil, err
		}
		if _, dup := f.tIndex[t.Name]; dup {
			return nil, fmt.Errorf("%w: tensor %q appears twice", ErrFormat, t.Name)
		}
		f.tIndex[t.Name] = len(f.tensors)
		f.tensors = append(f.tensors, t)
	}
	// The data section starts at the next multiple of the alignment.
	start := (uint64(c.off) + f.Alignment - 1) &^ (f.Alignment - 1)
	f.DataOffset = start
	if len(f.tensors) == 0 {
		return f, nil
	}
	if start > uint64(len(data)) {
		return nil, fmt.Errorf("%w: tensor data section at offset %d starts past end of file (%d bytes)", ErrFormat, start, len(data))
	}
	dataLen := uint64(len(data)) - start
	for _, t := range f.tensors {
		if t.Offset%f.Alignment != 0 {
			return nil, fmt.Errorf("%w: tensor %q: offset %d is not a multiple of the alignment %d", ErrFormat, t.Name, t.Offset, f.Alignment)
		}
		if t.Offset > dataLen || t.Size > dataLen-t.Offset {
			return nil, fmt.Errorf("%w: tensor %q: offset %d + size %d past end of data (%d bytes)", ErrFormat, t.Name, t.Offset, t.Size, dataLen)
		}
	}
	order := make([]int, len(f.tensors))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		oa, ob := f.tensors[a].Offset, f.tensors[b].Offset
		if oa < ob {
			return -1
		} else if oa > ob {
			return 1
		}
		return 0
	})
	prev := -1 // last tensor with data, in offset order
	for _, k := range order {
		q := f.tensors[k]
		if q.Size == 0 {
			continue
		}
		if prev >= 0 {
			p := f.tensors[prev]
			if p.Offset+p.Size > q.Offset {
				return nil, fmt.Errorf("%w: tensor %q (offset %d, %d bytes) overlaps tensor %q at offset %d", ErrFormat, p.Name, p.Offset, p.Size, q.Name, q.Offset)
			}
		}
		prev = k
	}
	return f, nil
}

func readTensorInfo(c *cursor, i uint64) (TensorInfo, error) {
	nb, err := c.str(fmt.Sprintf("tensor %d name", i))
	if err != nil {
		return TensorInfo{}, err
	}
	if len(nb) == 0 || len(nb) > MaxNameLen || !utf8.Valid(nb) {
		return TensorInfo{}, fmt.Errorf("%w: tensor %d name %q: want 1..%d bytes of UTF-8", ErrFormat, i, nb, MaxNameLen)
	}
	t := TensorInfo{Name: string(nb)}
	nd, err := c.u32(fmt.Sprintf("tensor %q n_dims", t.Name))
	if err != nil {
		return TensorInfo{}, err
	}
	if nd > MaxDims {
		return TensorInfo{}, fmt.Errorf("%w: tensor %q: n_dims %d > %d", ErrFormat, t.Name, nd, MaxDims)
	}
	t.Dims = make([]uint64, nd)
	for d := range t.Dims {
		if t.Dims[d], err = c.u64(fmt.Sprintf("tensor %q dim %d", t.Name, d)); err != nil {
			return TensorInfo{}, err
		}
	}
	typ, err := c.u32(fmt.Sprintf("tensor %q type", t.Name))
	if err != nil {
		return TensorInfo{}, err
	}
	t.Type = GGMLType(typ)
	if t.Offset, err = c.u64(fmt.Sprintf("tensor %q offset", t.Name)); err != nil {
		return TensorInfo{}, err
	}
	if !t.Type.Known() {
		return TensorInfo{}, fmt.Errorf("%w: tensor %q: ggml type %d", ErrUnsupported, t.Name, typ)
	}
	if t.Size, err = TensorSize(t.Type, t.Dims); err != nil {
		return TensorInfo{}, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	return t, nil
}

// KVs returns the metadata in file order.
func (f *File) KVs() []KV { return f.kvs }

// Lookup returns the value of an exact key. Keys are never split on '.':
// architecture names such as "bitnet-b1.58" contain dots.
func (f *File) Lookup(key string) (Value, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return Value{}, false
	}
	return f.kvs[i].Value, true
}

// Value returns the value of key, or an error wrapping ErrNotFound.
func (f *File) Value(key string) (Value, error) {
	v, ok := f.Lookup(key)
	if !ok {
		return Value{}, fmt.Errorf("gguf: key %q: %w", key, ErrNotFound)
	}
	return v, nil
}

func wrongType(key string, v Value, want string) error {
	got := v.Type().String()
	if v.Type() == Array {
		got = "array of " + v.ElemType().String()
	}
	return fmt.Errorf("gguf: key %q: %w: is %s, want %s", key, ErrWrongType, got, want)
}

// String returns a string value.
func (f *File) String(key string) (string, error) {
	v, err := f.Value(key)
	if err != nil {
		return "", err
	}
	s, ok := v.Str()
	if !ok {
		return "", wrongType(key, v, "string")
	}
	return s, nil
}

// Uint returns an integer value of any width that is not negative (the
// official BitNet file stores hyper-parameters as uint32, others as uint64).
func (f *File) Uint(key string) (uint64, error) {
	v, err := f.Value(key)
	if err != nil {
		return 0, err
	}
	u, ok := v.Uint()
	if !ok {
		return 0, wrongType(key, v, "a non-negative integer")
	}
	return u, nil
}

// Int returns an integer value of any width that fits in int64.
func (f *File) Int(key string) (int64, error) {
	v, err := f.Value(key)
	if err != nil {
		return 0, err
	}
	i, ok := v.Int()
	if !ok {
		return 0, wrongType(key, v, "an integer")
	}
	return i, nil
}

// Float returns a float32 or float64 value.
func (f *File) Float(key string) (float64, error) {
	v, err := f.Value(key)
	if err != nil {
		return 0, err
	}
	x, ok := v.Float()
	if !ok {
		return 0, wrongType(key, v, "a float")
	}
	return x, nil
}

// Bool returns a bool value.
func (f *File) Bool(key string) (bool, error) {
	v, err := f.Value(key)
	if err != nil {
		return false, err
	}
	b, ok := v.Bool()
	if !ok {
		return false, wrongType(key, v, "bool")
	}
	return b, nil
}

func (f *File) array(key string, elem ...ValueType) (Value, error) {
	v, err := f.Value(key)
	if err != nil {
		return Value{}, err
	}
	if v.Type() == Array && slices.Contains(elem, v.ElemType()) {
		return v, nil
	}
	want := "array of " + elem[0].String()
	for _, e := range elem[1:] {
		want += " or " + e.String()
	}
	return Value{}, wrongType(key, v, want)
}

// Strings returns an array of strings.
func (f *File) Strings(key string) ([]string, error) {
	v, err := f.array(key, String)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, v.n)
	for e := range v.Elems() {
		s, _ := e.Str()
		out = append(out, s)
	}
	return out, nil
}

// Float32s returns an array of float32.
func (f *File) Float32s(key string) ([]float32, error) {
	v, err := f.array(key, Float32)
	if err != nil {
		return nil, err
	}
	out := make([]float32, v.n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(v.raw[4*i:]))
	}
	return out, nil
}

// Int32s returns an array of int32, or of a narrower integer type, widened.
func (f *File) Int32s(key string) ([]int32, error) {
	v, err := f.array(key, Int32, Int16, Int8, Uint16, Uint8)
	if err != nil {
		return nil, err
	}
	out := make([]int32, 0, v.n)
	for e := range v.Elems() {
		i, _ := e.Int()
		out = append(out, int32(i))
	}
	return out, nil
}

// Uints returns an array of unsigned integers of any width.
func (f *File) Uints(key string) ([]uint64, error) {
	v, err := f.array(key, Uint8, Uint16, Uint32, Uint64)
	if err != nil {
		return nil, err
	}
	out := make([]uint64, 0, v.n)
	for e := range v.Elems() {
		u, _ := e.Uint()
		out = append(out, u)
	}
	return out, nil
}

// Architecture returns general.architecture ("bitnet", "bitnet-b1.58",
// "bitnet-25", "llama", ...).
func (f *File) Architecture() (string, error) { return f.String("general.architecture") }

// ArchKey returns the key general.architecture + "." + suffix, for example
// "bitnet-b1.58.context_length" for suffix "context_length".
func (f *File) ArchKey(suffix string) (string, error) {
	arch, err := f.Architecture()
	if err != nil {
		return "", err
	}
	return arch + "." + suffix, nil
}

// ArchUint returns the integer at ArchKey(suffix).
func (f *File) ArchUint(suffix string) (uint64, error) {
	k, err := f.ArchKey(suffix)
	if err != nil {
		return 0, err
	}
	return f.Uint(k)
}

// ArchFloat returns the float at ArchKey(suffix).
func (f *File) ArchFloat(suffix string) (float64, error) {
	k, err := f.ArchKey(suffix)
	if err != nil {
		return 0, err
	}
	return f.Float(k)
}

// Tensors returns the tensor infos in file order.
func (f *File) Tensors() []TensorInfo { return f.tensors }

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.tIndex[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.tensors[i], true
}

// TensorData returns the named tensor's bytes, a slice of the mapping (no
// copy; valid until Close). Its start is aligned to Alignment relative to
// the file start, and the mapping starts on a page boundary.
func (f *File) TensorData(name string) ([]byte, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, fmt.Errorf("gguf: tensor %q: %w", name, ErrNotFound)
	}
	if f.data == nil {
		return nil, fmt.Errorf("gguf: tensor %q: file is closed", name)
	}
	start := f.DataOffset + t.Offset
	return f.data[start : start+t.Size : start+t.Size], nil
}
