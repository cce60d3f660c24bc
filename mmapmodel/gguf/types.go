package gguf

import (
	"fmt"
	"math/bits"
)

// GGMLType is a ggml tensor type id as stored in a GGUF tensor info.
type GGMLType uint32

// ggml type ids (GGML ggml.h enum ggml_type; I2_S from the bitnet.cpp fork,
// EWL ggml/include/ggml.h, where upstream reserves 36 for a removed type).
const (
	TypeF32   GGMLType = 0
	TypeF16   GGMLType = 1
	TypeQ4_0  GGMLType = 2
	TypeQ4_1  GGMLType = 3
	TypeQ5_0  GGMLType = 6
	TypeQ5_1  GGMLType = 7
	TypeQ8_0  GGMLType = 8
	TypeQ8_1  GGMLType = 9
	TypeQ2_K  GGMLType = 10
	TypeQ3_K  GGMLType = 11
	TypeQ4_K  GGMLType = 12
	TypeQ5_K  GGMLType = 13
	TypeQ6_K  GGMLType = 14
	TypeQ8_K  GGMLType = 15
	TypeI8    GGMLType = 24
	TypeI16   GGMLType = 25
	TypeI32   GGMLType = 26
	TypeI64   GGMLType = 27
	TypeF64   GGMLType = 28
	TypeBF16  GGMLType = 30
	TypeTQ1_0 GGMLType = 34
	TypeTQ2_0 GGMLType = 35
	// TypeI2_S is bitnet.cpp's id. Upstream ggml briefly used 36 for the
	// IQ4_NL_4_4 repack type (32 weights in 18 bytes), so a reader should
	// treat 36 as I2_S only in files whose general.architecture is a BitNet
	// one; the size rule (n/4 + 32) also makes a mislabelled tensor fail the
	// offset checks in most files.
	TypeI2_S GGMLType = 36
)

type typeTraits struct {
	name      string
	blockSize uint64 // elements per block
	typeSize  uint64 // bytes per block
}

// traits gives block geometry per type (GGML ggml.c type_traits; block
// structs in ggml-common.h). I2_S is sized separately (see TensorSize).
var traits = map[GGMLType]typeTraits{
	TypeF32:   {"F32", 1, 4},
	TypeF16:   {"F16", 1, 2},
	TypeQ4_0:  {"Q4_0", 32, 18},
	TypeQ4_1:  {"Q4_1", 32, 20},
	TypeQ5_0:  {"Q5_0", 32, 22},
	TypeQ5_1:  {"Q5_1", 32, 24},
	TypeQ8_0:  {"Q8_0", 32, 34},
	TypeQ8_1:  {"Q8_1", 32, 36},
	TypeQ2_K:  {"Q2_K", 256, 84},
	TypeQ3_K:  {"Q3_K", 256, 110},
	TypeQ4_K:  {"Q4_K", 256, 144},
	TypeQ5_K:  {"Q5_K", 256, 176},
	TypeQ6_K:  {"Q6_K", 256, 210},
	TypeQ8_K:  {"Q8_K", 256, 292},
	TypeI8:    {"I8", 1, 1},
	TypeI16:   {"I16", 1, 2},
	TypeI32:   {"I32", 1, 4},
	TypeI64:   {"I64", 1, 8},
	TypeF64:   {"F64", 1, 8},
	TypeBF16:  {"BF16", 1, 2},
	TypeTQ1_0: {"TQ1_0", 256, 54},
	TypeTQ2_0: {"TQ2_0", 256, 66},
	TypeI2_S:  {"I2_S", 1, 1},
}

// String returns the ggml name, or "type(N)" for an unknown id.
func (t GGMLType) String() string {
	if tr, ok := traits[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// Known reports whether the type is in this package's table.
func (t GGMLType) Known() bool { _, ok := traits[t]; return ok }

// BlockSize returns the number of elements per block (0 if unknown).
func (t GGMLType) BlockSize() uint64 { return traits[t].blockSize }

// TypeSize returns the bytes per block (0 if unknown).
func (t GGMLType) TypeSize() uint64 { return traits[t].typeSize }

// I2STailBytes is the scale tail after the codes of an I2_S tensor.
const I2STailBytes = 32

// TensorSize returns the byte size of a tensor of the given type and ggml
// dims (dims[0] contiguous), as ggml_nbytes computes it: for block types
// dims[0] must be a whole number of blocks and the size is
// dims[0]/block·type_size·Π dims[1:]; for I2_S it is n/4 + 32
// (EWL ggml.c ggml_nbytes special case; MSB quantize_i2_s returns n/4 + 32),
// and n must be a multiple of 4. Every product is overflow-checked against
// 2^63.
func TensorSize(t GGMLType, dims []uint64) (uint64, error) {
	tr, ok := traits[t]
	if !ok {
		return 0, fmt.Errorf("%w: ggml type %d", ErrUnsupported, uint32(t))
	}
	n := uint64(1)
	for i, d := range dims {
		hi, lo := bits.Mul64(n, d)
		if hi != 0 || lo > 1<<63-1 {
			return 0, fmt.Errorf("%w: dims %v: element count overflows at dim %d", ErrFormat, dims, i)
		}
		n = lo
	}
	if t == TypeI2_S {
		if n%4 != 0 {
			return 0, fmt.Errorf("%w: I2_S element count %d is not a multiple of 4", ErrFormat, n)
		}
		return n/4 + I2STailBytes, nil
	}
	if len(dims) > 0 && dims[0]%tr.blockSize != 0 {
		return 0, fmt.Errorf("%w: %s row length %d is not a multiple of the block size %d", ErrFormat, tr.name, dims[0], tr.blockSize)
	}
	hi, lo := bits.Mul64(n/tr.blockSize, tr.typeSize)
	if hi != 0 || lo > 1<<63-1 {
		return 0, fmt.Errorf("%w: dims %v: byte size overflows", ErrFormat, dims)
	}
	return lo, nil
}
