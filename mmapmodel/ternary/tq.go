package ternary

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Block geometry of llama.cpp's ternary types (GGML ggml-common.h
// block_tq1_0 {qs[48]; qh[4]; d} and block_tq2_0 {qs[64]; d}).
const (
	TQBlockWeights = 256 // QK_K
	TQ1BlockBytes  = 54
	TQ2BlockBytes  = 66
)

// TQKind selects TQ1_0 or TQ2_0.
type TQKind uint8

const (
	// TQ1 is TQ1_0: 1.6875 bits per weight, base-3 packing.
	TQ1 TQKind = iota + 1
	// TQ2 is TQ2_0: 2.0625 bits per weight, 2-bit codes.
	TQ2
)

// String returns the ggml type name.
func (k TQKind) String() string {
	switch k {
	case TQ1:
		return "TQ1_0"
	case TQ2:
		return "TQ2_0"
	}
	return "TQ?"
}

// BlockBytes is the size of one 256-weight block.
func (k TQKind) BlockBytes() int {
	switch k {
	case TQ1:
		return TQ1BlockBytes
	case TQ2:
		return TQ2BlockBytes
	}
	return 0
}

// TQ decodes a TQ1_0 or TQ2_0 tensor of rows×cols weights (ggml ne = [cols,
// rows]). Each 256-weight block has its own f16 scale d and weight =
// (code−1)·d. It holds the caller's bytes without copying.
type TQ struct {
	kind TQKind
	data []byte
	rows int
	cols int
	bpr  int // blocks per row
}

// NewTQ checks data against the shape: cols must be a multiple of 256 (ggml
// rows are whole blocks) and len(data) exactly rows·cols/256 blocks.
func NewTQ(kind TQKind, data []byte, rows, cols int) (*TQ, error) {
	bb := kind.BlockBytes()
	if bb == 0 {
		return nil, fmt.Errorf("ternary: unknown TQ kind %d", kind)
	}
	if rows <= 0 || cols <= 0 {
		return nil, fmt.Errorf("%w: %s shape %d×%d must be positive", ErrFormat, kind, rows, cols)
	}
	if cols%TQBlockWeights != 0 {
		return nil, fmt.Errorf("%w: %s row length %d is not a multiple of %d", ErrFormat, kind, cols, TQBlockWeights)
	}
	bpr := cols / TQBlockWeights
	if bpr > math.MaxInt/bb || rows > math.MaxInt/(bpr*bb) {
		return nil, fmt.Errorf("%w: %s shape %d×%d overflows", ErrFormat, kind, rows, cols)
	}
	if want := rows * bpr * bb; len(data) != want {
		return nil, fmt.Errorf("%w: %s data is %d bytes, want %d for %d×%d", ErrFormat, kind, len(data), want, rows, cols)
	}
	return &TQ{kind: kind, data: data, rows: rows, cols: cols, bpr: bpr}, nil
}

// Kind returns TQ1 or TQ2.
func (t *TQ) Kind() TQKind { return t.kind }

// Rows returns the number of rows.
func (t *TQ) Rows() int { return t.rows }

// Cols returns the number of weights in a row.
func (t *TQ) Cols() int { return t.cols }

// BlocksPerRow returns cols/256.
func (t *TQ) BlocksPerRow() int { return t.bpr }

func (t *TQ) block(r, b int) []byte {
	bb := t.kind.BlockBytes()
	off := (r*t.bpr + b) * bb
	return t.data[off : off+bb]
}

// BlockScale returns the scale d of block b of row r.
func (t *TQ) BlockScale(r, b int) float32 {
	blk := t.block(r, b)
	return F16ToF32(binary.LittleEndian.Uint16(blk[len(blk)-2:]))
}

// pow3 are the multipliers of dequantize_row_tq1_0 that bring trit n of a
// byte to the top of the byte.
var pow3 = [5]byte{1, 3, 9, 27, 81}

// tq1Trit extracts trit n (0 = most significant) of a TQ1_0 byte the way
// GGML ggml-quants.c dequantize_row_tq1_0 does: the byte is a fixed-point
// fraction q·256/243, multiplying by 3^n with uint8 wrap-around drops the
// leading trits, and ((x·3) >> 8) reads the next one. Every byte yields a
// trit in {0,1,2}.
func tq1Trit(b byte, n int) int8 {
	q := b * pow3[n]
	return int8((uint16(q) * 3) >> 8)
}

// decodeBlock writes the 256 codes−1 of one block into dst and reports
// whether any is nonzero. For TQ2_0 a code of 3 is an error (-1 returned as
// the offending weight index).
func (t *TQ) decodeBlock(blk []byte, dst []int8) (nonzero bool, bad int) {
	if t.kind == TQ2 {
		// GGML dequantize_row_tq2_0: weight e is in byte 32·(e/128)+e%32 at
		// bit shift 2·((e%128)/32), low bits first.
		for e := 0; e < TQBlockWeights; e++ {
			code := blk[32*(e/128)+e%32] >> (2 * ((e % 128) / 32)) & 3
			if code == 3 {
				return false, e
			}
			dst[e] = int8(code) - 1
			nonzero = nonzero || code != 1
		}
		return nonzero, -1
	}
	// GGML dequantize_row_tq1_0: qs[0..31] hold weights 0..159 (byte m has
	// m, m+32, ..., m+128), qs[32..47] hold 160..239 (byte 32+m has 160+m,
	// 176+m, ..., 224+m), qh[0..3] hold 240..255 (byte j has 240+j, 244+j,
	// 248+j, 252+j).
	for e := 0; e < TQBlockWeights; e++ {
		var v int8
		switch {
		case e < 160:
			v = tq1Trit(blk[e%32], e/32)
		case e < 240:
			v = tq1Trit(blk[32+(e-160)%16], (e-160)/16)
		default:
			v = tq1Trit(blk[48+(e-240)%4], (e-240)/4)
		}
		dst[e] = v - 1
		nonzero = nonzero || v != 1
	}
	return nonzero, -1
}

// Row writes row r's ternary values into dst (Cols values). A block whose
// scale d is zero holds zero weights whatever its codes say, and is written
// as zeros, so that value·γ equals the weight for every block whose scale is
// γ. Non-finite scales are an error.
func (t *TQ) Row(r int, dst []int8) error {
	if r < 0 || r >= t.rows {
		return fmt.Errorf("ternary: %s row %d out of range [0,%d)", t.kind, r, t.rows)
	}
	if len(dst) != t.cols {
		return fmt.Errorf("ternary: %s row buffer holds %d values, want %d", t.kind, len(dst), t.cols)
	}
	for b := 0; b < t.bpr; b++ {
		out := dst[b*TQBlockWeights : (b+1)*TQBlockWeights]
		d := t.BlockScale(r, b)
		if math.IsNaN(float64(d)) || math.IsInf(float64(d), 0) {
			return fmt.Errorf("%w: %s row %d block %d scale %v is not finite", ErrFormat, t.kind, r, b, d)
		}
		_, bad := t.decodeBlock(t.block(r, b), out)
		if bad >= 0 {
			return fmt.Errorf("%w: %s row %d column %d has code 3", ErrFormat, t.kind, r, b*TQBlockWeights+bad)
		}
		if d == 0 {
			clear(out)
		}
	}
	return nil
}

// TensorScale returns the single scale γ shared by every block that holds a
// nonzero weight (blocks of all-zero codes, or with d = 0, hold only zeros
// and do not count), which is what a BitNet tensor quantized per tensor
// gives. It returns 0 for a tensor with no nonzero weight. If two such
// blocks have different scales it returns ErrNonUniformScale naming both:
// the scales are not silently merged; BlockScale gives each of them.
// A negative or non-finite scale is ErrFormat.
func (t *TQ) TensorScale() (float32, error) {
	var buf [TQBlockWeights]int8
	var gamma float32
	fr, fb := -1, -1
	for r := 0; r < t.rows; r++ {
		for b := 0; b < t.bpr; b++ {
			d := t.BlockScale(r, b)
			if !(d >= 0) || math.IsInf(float64(d), 0) {
				return 0, fmt.Errorf("%w: %s row %d block %d scale %v must be finite and non-negative", ErrFormat, t.kind, r, b, d)
			}
			nz, bad := t.decodeBlock(t.block(r, b), buf[:])
			if bad >= 0 {
				return 0, fmt.Errorf("%w: %s row %d column %d has code 3", ErrFormat, t.kind, r, b*TQBlockWeights+bad)
			}
			if !nz || d == 0 {
				continue
			}
			if fr < 0 {
				gamma, fr, fb = d, r, b
				continue
			}
			if d != gamma {
				return 0, fmt.Errorf("%w: %s row %d block %d has scale %v, row %d block %d has %v", ErrNonUniformScale, t.kind, r, b, d, fr, fb, gamma)
			}
		}
	}
	return gamma, nil
}
