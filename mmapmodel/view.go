package mmapmodel

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// Memory spaces. A view's second type parameter says where its bytes may be
// read, so that a function taking *View[T, Device] does not compile when
// handed a host view: the check is the compiler's, not a run-time branch.
// Views made by this package over a file mapping are Host views; a backend
// that makes the mapping reachable from a GPU (cuMemHostRegister on a
// Jetson's unified memory, a copy on a discrete GPU) says so with
// UnsafeRebind.
type (
	// Host is CPU-addressable memory (a file mapping).
	Host struct{}
	// Device is GPU memory, not addressable by the CPU.
	Device struct{}
	// Unified is memory addressable by both (registered host memory on
	// an integrated GPU).
	Unified struct{}
)

// Space is the set of memory spaces; it is closed: only the three above.
type Space interface {
	Host | Device | Unified
}

// Float16 and BFloat16 hold the raw bits of a binary16 or bfloat16 value; they are
// distinct types so a bf16 tensor cannot be viewed as f16 by accident.
type (
	Float16  uint16
	BFloat16 uint16
)

// Elem is the set of element types a View can have.
type Elem interface {
	int8 | uint8 | Float16 | BFloat16 | float32
}

// View is a typed, zero-copy view of one tensor's bytes in memory space S.
// It holds a reference on the file mapping: the bytes stay mapped until
// Release, even after Model.Close. Data must not be used after Release.
type View[T Elem, S Space] struct {
	data     []T
	m        *mapping
	released atomic.Bool
}

// Data is the view's elements, straight from the mapping (read-only: the
// mapping is PROT_READ and a write faults).
func (v *View[T, S]) Data() []T { return v.data }

// Len is the number of elements.
func (v *View[T, S]) Len() Elems { return Elems(len(v.data)) }

// Size is the view's length in bytes.
func (v *View[T, S]) Size() Bytes {
	var z T
	return Bytes(len(v.data)) * Bytes(unsafe.Sizeof(z))
}

// Release drops the view's reference on the mapping; the last reference
// unmaps it. Release is idempotent.
func (v *View[T, S]) Release() {
	if v.released.CompareAndSwap(false, true) {
		v.data = nil
		v.m.release()
	}
}

// elemMatches says which dtype a view element type reads. uint8 reads the
// raw bytes of any tensor.
func elemMatches[T Elem](d DType) bool {
	var z T
	switch any(z).(type) {
	case uint8:
		return true
	case int8:
		return d == I8
	case Float16:
		return d == F16
	case BFloat16:
		return d == BF16
	case float32:
		return d == F32
	}
	return false
}

// bytesOf takes a mapping reference and returns the extent's bytes.
func bytesOf(t *Tensor, off Offset, n Bytes) ([]byte, *mapping, error) {
	m := t.file.m
	if t.file.closed.Load() || !m.acquire() {
		return nil, nil, fmt.Errorf("%s: tensor %q: %w", t.file.Path, t.Name, ErrClosed)
	}
	// Open checked off+n against the file size; this re-check costs two
	// compares and keeps a corrupted Tensor value (they are exported and
	// mutable) from reading past the mapping.
	if off < 0 || n < 0 || uint64(off)+uint64(n) > uint64(len(m.data)) {
		m.release()
		return nil, nil, formatErr(t.file.Path, t.Name, "offset", "bytes %d..%d outside the mapping (%d bytes)", off, int64(off)+int64(n), len(m.data))
	}
	return m.data[off : int64(off)+int64(n) : int64(off)+int64(n)], m, nil
}

func castSlice[T Elem](b []byte) []T {
	var z T
	sz := int(unsafe.Sizeof(z))
	if len(b) == 0 {
		return nil
	}
	// Alignment: mappings are page-aligned and extents 256-aligned, so
	// &b[0] is aligned for every Elem.
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), len(b)/sz)
}

// NewView returns a host view of t's data with element type T. T must
// match the dtype (int8 for i8, Float16 for f16, BFloat16 for bf16, float32 for f32), or be uint8,
// which views any tensor's raw bytes (packed ternary codes, blobs).
func NewView[T Elem](t *Tensor) (*View[T, Host], error) {
	if !elemMatches[T](t.DType) {
		var z T
		return nil, &Error{Path: t.file.Path, Tensor: t.Name, Field: "dtype", Err: ErrType,
			Msg: fmt.Sprintf("dtype %s cannot be viewed as %T", t.DType, z)}
	}
	b, m, err := bytesOf(t, t.Offset, t.Length)
	if err != nil {
		return nil, err
	}
	return &View[T, Host]{data: castSlice[T](b), m: m}, nil
}

// UnsafeRebind returns a view of the same bytes in memory space To, with
// its own reference on the mapping. It is unsafe in the sense that the
// compiler can no longer vouch for the space: call it only after making the
// bytes reachable in To (registering the mapping with the GPU driver).
func UnsafeRebind[To Space, T Elem, From Space](v *View[T, From]) (*View[T, To], error) {
	if v.released.Load() || !v.m.acquire() {
		return nil, ErrClosed
	}
	return &View[T, To]{data: v.data, m: v.m}, nil
}

// TernaryMatrix is a zero-copy view of a packed ternary matrix: Rows rows
// of Cols weights, each row RowBytes bytes in Layout, scaled by Scale.
type TernaryMatrix[S Space] struct {
	Rows, Cols Elems
	RowBytes   Bytes
	Layout     string
	DType      DType
	Scale      float32
	data       []byte
	m          *mapping
	released   atomic.Bool
}

// Data is the packed rows, back to back.
func (t *TernaryMatrix[S]) Data() []byte { return t.data }

// Row is row r's packed bytes.
func (t *TernaryMatrix[S]) Row(r int) []byte {
	rb := int(t.RowBytes)
	return t.data[r*rb : (r+1)*rb : (r+1)*rb]
}

// Release drops the view's reference; see View.Release.
func (t *TernaryMatrix[S]) Release() {
	if t.released.CompareAndSwap(false, true) {
		t.data = nil
		t.m.release()
	}
}

// NewTernaryMatrix returns a host view of a t2 or t1.6 tensor.
func NewTernaryMatrix(t *Tensor) (*TernaryMatrix[Host], error) {
	if !t.DType.Ternary() || len(t.Shape) != 2 {
		return nil, &Error{Path: t.file.Path, Tensor: t.Name, Field: "dtype", Err: ErrType,
			Msg: fmt.Sprintf("dtype %s shape %v is not a ternary matrix", t.DType, t.Shape)}
	}
	rb, err := TernaryRowBytes(t.Layout, t.Shape[1])
	if err != nil || rb*Bytes(t.Shape[0]) != t.Length {
		return nil, formatErr(t.file.Path, t.Name, "length", "length %d does not match layout %q shape %v", t.Length, t.Layout, t.Shape)
	}
	b, m, err := bytesOf(t, t.Offset, t.Length)
	if err != nil {
		return nil, err
	}
	return &TernaryMatrix[Host]{Rows: t.Shape[0], Cols: t.Shape[1], RowBytes: rb, Layout: t.Layout,
		DType: t.DType, Scale: t.Scale, data: b, m: m}, nil
}

// Int8Matrix is a zero-copy view of an i8 matrix and its per-row f32
// scales: element (r, c) stands for Data()[r*Cols+c] * Scales()[r].
type Int8Matrix[S Space] struct {
	Rows, Cols Elems
	data       []int8
	scales     []float32
	m          *mapping
	released   atomic.Bool
}

// Data is the rows, back to back (Rows × Cols elements).
func (t *Int8Matrix[S]) Data() []int8 { return t.data }

// Scales is one f32 scale per row.
func (t *Int8Matrix[S]) Scales() []float32 { return t.scales }

// Row is row r's elements.
func (t *Int8Matrix[S]) Row(r int) []int8 {
	c := int(t.Cols)
	return t.data[r*c : (r+1)*c : (r+1)*c]
}

// Release drops the view's reference; see View.Release.
func (t *Int8Matrix[S]) Release() {
	if t.released.CompareAndSwap(false, true) {
		t.data, t.scales = nil, nil
		t.m.release()
	}
}

// UnsafeRebindTernary is UnsafeRebind for a TernaryMatrix.
func UnsafeRebindTernary[To Space, From Space](t *TernaryMatrix[From]) (*TernaryMatrix[To], error) {
	if t.released.Load() || !t.m.acquire() {
		return nil, ErrClosed
	}
	return &TernaryMatrix[To]{Rows: t.Rows, Cols: t.Cols, RowBytes: t.RowBytes, Layout: t.Layout,
		DType: t.DType, Scale: t.Scale, data: t.data, m: t.m}, nil
}

// UnsafeRebindInt8 is UnsafeRebind for an Int8Matrix.
func UnsafeRebindInt8[To Space, From Space](t *Int8Matrix[From]) (*Int8Matrix[To], error) {
	if t.released.Load() || !t.m.acquire() {
		return nil, ErrClosed
	}
	return &Int8Matrix[To]{Rows: t.Rows, Cols: t.Cols, data: t.data, scales: t.scales, m: t.m}, nil
}

// NewInt8Matrix returns a host view of an i8 tensor and its row scales.
func NewInt8Matrix(t *Tensor) (*Int8Matrix[Host], error) {
	if t.DType != I8 || len(t.Shape) != 2 {
		return nil, &Error{Path: t.file.Path, Tensor: t.Name, Field: "dtype", Err: ErrType,
			Msg: fmt.Sprintf("dtype %s shape %v is not an int8 matrix", t.DType, t.Shape)}
	}
	if Bytes(t.Shape[0])*Bytes(t.Shape[1]) != t.Length || Bytes(t.Shape[0])*4 != t.ScalesLength {
		return nil, formatErr(t.file.Path, t.Name, "length", "lengths %d and %d do not match shape %v", t.Length, t.ScalesLength, t.Shape)
	}
	b, m, err := bytesOf(t, t.Offset, t.Length)
	if err != nil {
		return nil, err
	}
	s, m2, err := bytesOf(t, t.ScalesOffset, t.ScalesLength)
	if err != nil {
		m.release()
		return nil, err
	}
	m2.release() // one reference covers both extents of the same mapping
	return &Int8Matrix[Host]{Rows: t.Shape[0], Cols: t.Shape[1], data: castSlice[int8](b), scales: castSlice[float32](s), m: m}, nil
}
