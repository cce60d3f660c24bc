package mmapmodel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/bits"
	"strings"
	"unicode/utf8"
)

// Byte layout constants. See docs/FORMAT.md for the full description.
const (
	// FormatVersion is the newest format version this package reads and
	// the one it writes.
	FormatVersion = 1

	// PreambleSize is the size of the fixed preamble at offset 0.
	PreambleSize = 32

	// TensorAlign is the alignment of every tensor extent: wide enough for
	// a 256-byte SIMD or GPU load and for cudaHostRegister-style ranges.
	TensorAlign = 256

	// PageAlign is the alignment of the data region, so the data can be
	// mapped, advised and registered page by page.
	PageAlign = 4096

	// MaxHeaderSize bounds the header a reader accepts (16 MiB): the
	// header is decoded into memory, so its size is what Open costs.
	MaxHeaderSize = 16 << 20

	// MaxNameLen bounds tensor, slot, architecture and parameter names.
	MaxNameLen = 256

	// MaxParamStringLen bounds a string hyper-parameter's value.
	MaxParamStringLen = 4096

	// MaxRank bounds the number of dimensions of a tensor.
	MaxRank = 8

	// MaxTensors bounds the number of tensors in one file (also enforced by
	// the header decoder, //msgp:limit in header.go).
	MaxTensors = 16384
)

// magic opens every file. Like PNG's signature it has a non-ASCII first
// byte and a CR LF / LF pair, so text-mode transfers that rewrite line
// endings are caught by the first eight bytes.
var magic = [8]byte{0x89, 'B', 'W', 'M', '\r', '\n', 0x1a, '\n'}

// castagnoli is CRC-32C (Castagnoli), the checksum of every region: it has
// hardware support on amd64 (SSE4.2) and arm64 (CRC32 extension).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Sentinel errors callers branch on. Every error returned by this package
// wraps exactly one of them.
var (
	// ErrFormat: the file or manifest breaks a rule of the format.
	ErrFormat = errors.New("invalid model format")
	// ErrChecksum: a CRC32C or SHA-256 does not match the bytes.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrVersion: the file was written by a newer format version.
	ErrVersion = errors.New("unsupported format version")
	// ErrTooLarge: the file cannot be mapped on this platform.
	ErrTooLarge = errors.New("file too large for this platform")
	// ErrNotFound: no tensor, slot or parameter has the given name.
	ErrNotFound = errors.New("not found")
	// ErrType: a view was asked for with an element type or memory space
	// that does not match the tensor.
	ErrType = errors.New("view type mismatch")
	// ErrClosed: the model was closed.
	ErrClosed = errors.New("model closed")
)

// Error is the error type for problems found in a file or manifest. It says
// which file, which tensor (when one is involved) and which field is wrong.
type Error struct {
	Path   string // file or manifest path
	Tensor string // tensor name, or "" when the problem is not in a tensor
	Field  string // header or preamble field, e.g. "offset", "magic"
	Msg    string // what is wrong, with the values involved
	Err    error  // one of the sentinel errors
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	if e.Tensor != "" {
		fmt.Fprintf(&b, "tensor %q: ", e.Tensor)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

func formatErr(path, tensor, field, format string, args ...any) *Error {
	return &Error{Path: path, Tensor: tensor, Field: field, Msg: fmt.Sprintf(format, args...), Err: ErrFormat}
}

// Bytes is a size in bytes. Offset is a position in a file or mapping.
// Elems is a count of elements. They are distinct types so that a size is
// never used as an element count (or an offset as a size) without a visible
// conversion.
type (
	Bytes  int64
	Offset int64
	Elems  int64
)

// DType is a tensor's element type, by its name in the header.
type DType string

// The dtypes of format version 1.
const (
	// T2 is ternary, 2 bits per weight, code = w+1. Layout LayoutI2B128.
	T2 DType = "t2"
	// T16 is ternary, 5 trits per byte (1.6 bits per weight). Layout
	// LayoutT5B160.
	T16 DType = "t1.6"
	// I8 is int8 with one f32 scale per row (rank 2).
	I8 DType = "i8"
	// F16 is IEEE 754 binary16.
	F16 DType = "f16"
	// BF16 is bfloat16 (the top half of an f32).
	BF16 DType = "bf16"
	// F32 is IEEE 754 binary32.
	F32 DType = "f32"
	// U8 is opaque bytes: blobs such as a tokenizer or label list.
	U8 DType = "u8"
)

// Layout names of the ternary dtypes.
const (
	// LayoutI2B128 is bitnet.cpp's x86 I2_S block layout (see
	// ggml-bitnet-mad.cpp, quantize_i2_s): rows padded to a multiple of 128
	// weights; each block of 128 weights is 32 bytes; byte j of a block
	// holds weights j, j+32, j+64, j+96 in bits 7:6, 5:4, 3:2, 1:0; code =
	// w+1 (00=-1, 01=0, 10=+1, 11 invalid); padding weights are code 01.
	LayoutI2B128 = "i2b128"
	// LayoutT5B160 packs 5 trits per byte: rows padded to a multiple of 160
	// weights, each block of 160 weights is 32 bytes; byte j of a block
	// holds weights j, j+32, j+64, j+96, j+128 as codes c_0..c_4 (w+1),
	// stored as b = ceil(v·256/243) with v = Σ c_k·3^(4-k) (llama.cpp's
	// TQ1_0 packing, simd.LayoutT5B160): 243 of the 256 byte values are
	// encodings; padding weights are code 1.
	LayoutT5B160 = "t5b160"
)

// Valid reports whether d is a dtype of this format version.
func (d DType) Valid() bool {
	switch d {
	case T2, T16, I8, F16, BF16, F32, U8:
		return true
	}
	return false
}

// Ternary reports whether d is one of the ternary dtypes.
func (d DType) Ternary() bool { return d == T2 || d == T16 }

// ElemSize is the size of one element for the dense dtypes and 0 for the
// ternary ones (whose size is a per-row rule of their layout).
func (d DType) ElemSize() Bytes {
	switch d {
	case I8, U8:
		return 1
	case F16, BF16:
		return 2
	case F32:
		return 4
	}
	return 0
}

// layoutFor is the one layout each dtype accepts in version 1 ("" means
// dense row-major, little-endian).
func layoutFor(d DType) string {
	switch d {
	case T2:
		return LayoutI2B128
	case T16:
		return LayoutT5B160
	}
	return ""
}

// knownLayouts is every layout name the format knows.
var knownLayouts = map[string]struct {
	blockWeights uint64
	blockBytes   uint64
}{
	LayoutI2B128: {128, 32},
	LayoutT5B160: {160, 32},
}

// TernaryRowBytes is the packed size of one row of k weights in layout.
func TernaryRowBytes(layout string, k Elems) (Bytes, error) {
	l, ok := knownLayouts[layout]
	if !ok {
		return 0, fmt.Errorf("layout %q unknown: %w", layout, ErrFormat)
	}
	if k < 0 {
		return 0, fmt.Errorf("negative row length %d: %w", k, ErrFormat)
	}
	return Bytes((uint64(k) + l.blockWeights - 1) / l.blockWeights * l.blockBytes), nil
}

// maxTensorBytes bounds any size computed from a shape (2^50 bytes, 1 PiB):
// far above any real model, far below where int64 arithmetic overflows.
const maxTensorBytes = 1 << 50

// tensorBytes computes the data length and the scales length that a tensor
// of this dtype, layout and shape must have. It checks every product for
// overflow. field names the offending header field on error.
func tensorBytes(d DType, layout string, shape []uint64) (data, scales uint64, field, msg string) {
	if !d.Valid() {
		return 0, 0, "dtype", fmt.Sprintf("dtype %q unknown", string(d))
	}
	if want := layoutFor(d); layout != want {
		if _, known := knownLayouts[layout]; !known && layout != "" {
			return 0, 0, "layout", fmt.Sprintf("layout %q unknown", layout)
		}
		return 0, 0, "layout", fmt.Sprintf("layout %q does not go with dtype %s (want %q)", layout, d, want)
	}
	if len(shape) == 0 || len(shape) > MaxRank {
		return 0, 0, "shape", fmt.Sprintf("rank %d outside 1..%d", len(shape), MaxRank)
	}
	if (d.Ternary() || d == I8) && len(shape) != 2 {
		return 0, 0, "shape", fmt.Sprintf("dtype %s needs rank 2 (rows, cols), got rank %d", d, len(shape))
	}
	n := uint64(1)
	for i, s := range shape {
		if s == 0 {
			return 0, 0, "shape", fmt.Sprintf("dimension %d is zero", i)
		}
		hi, lo := bits.Mul64(n, s)
		if hi != 0 || lo > maxTensorBytes {
			return 0, 0, "shape", fmt.Sprintf("product of %v overflows (limit %d elements)", shape, uint64(maxTensorBytes))
		}
		n = lo
	}
	if d.Ternary() {
		l := knownLayouts[layout]
		rowBytes := (shape[1] + l.blockWeights - 1) / l.blockWeights * l.blockBytes
		hi, lo := bits.Mul64(shape[0], rowBytes)
		if hi != 0 || lo > maxTensorBytes {
			return 0, 0, "shape", fmt.Sprintf("packed size of %v overflows", shape)
		}
		return lo, 0, "", ""
	}
	size := n * uint64(d.ElemSize()) // n <= 2^50, ElemSize <= 4: no overflow
	if size > maxTensorBytes {
		return 0, 0, "shape", fmt.Sprintf("size of %v overflows", shape)
	}
	if d == I8 {
		return size, shape[0] * 4, "", ""
	}
	return size, 0, "", ""
}

// checkName enforces the name rules: 1..MaxNameLen bytes of ASCII letters,
// digits and . _ - / : (names end up in logs, JSON, metrics labels and file
// listings, so they are kept printable and unambiguous).
func checkName(s string) string {
	if s == "" {
		return "empty name"
	}
	if len(s) > MaxNameLen {
		return fmt.Sprintf("name is %d bytes (max %d)", len(s), MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == '-', c == '/', c == ':':
		default:
			return fmt.Sprintf("name %q has byte 0x%02x at %d (allowed: letters, digits, . _ - / :)", truncate(s), c, i)
		}
	}
	return ""
}

func truncate(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	if !utf8.ValidString(s) {
		return strings.ToValidUTF8(s, "?")
	}
	return s
}

// preamble is the fixed 32-byte start of every file:
//
//	0  [8]byte magic
//	8  uint32  format version
//	12 uint32  header length
//	16 uint32  CRC32C of the header bytes
//	20 [12]byte reserved, zero
type preamble struct {
	version   uint32
	headerLen uint32
	headerCRC uint32
}

func (p preamble) put(b []byte) {
	copy(b[0:8], magic[:])
	binary.LittleEndian.PutUint32(b[8:], p.version)
	binary.LittleEndian.PutUint32(b[12:], p.headerLen)
	binary.LittleEndian.PutUint32(b[16:], p.headerCRC)
	clear(b[20:PreambleSize])
}

// dataStart is where the data region begins for a header of length n.
func dataStart(headerLen uint64) uint64 {
	return alignUp(PreambleSize+headerLen, PageAlign)
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) / a * a }

func finite32(f float32) bool { return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) }

func crcBytes(b [4]byte) uint32 { return binary.LittleEndian.Uint32(b[:]) }

func crcArray(c uint32) (b [4]byte) {
	binary.LittleEndian.PutUint32(b[:], c)
	return b
}
