package convert

import (
	"context"
	"encoding/binary"
	"io"
	"math"
	"time"

	"github.com/speakez/barewire/mmapmodel/ternary"
	"github.com/speakez/barewire/simd"
)

// chunkBytes bounds what a reader produces at once: rows are encoded into
// a buffer of about this size, so memory stays bounded by it (plus one row)
// whatever the tensor's size.
const chunkBytes = 1 << 20

// tracker counts the bytes the writer has pulled and reports progress: at
// the first tensor, then at most every interval (at a tensor's start or
// within it), and once at the end.
type tracker struct {
	ctx      context.Context
	fn       func(Progress)
	interval time.Duration
	start    time.Time
	last     time.Time
	p        Progress
	// buf is the one chunk buffer of every rowReader: the writer reads the
	// tensors one after the other, each to its end, so they can share it.
	buf []byte
}

func (k *tracker) begin(i int, name string) {
	k.p.Tensor, k.p.Name = i+1, name
	k.report(i == 0)
}

func (k *tracker) add(n int) {
	k.p.Bytes += int64(n)
	k.report(false)
}

func (k *tracker) report(force bool) {
	if k.fn == nil {
		return
	}
	now := time.Now()
	if !force && now.Sub(k.last) < k.interval {
		return
	}
	k.last = now
	k.p.Elapsed = now.Sub(k.start)
	k.fn(k.p)
}

// rowReader is an io.Reader that encodes a tensor a chunk of rows at a
// time. It checks the context before each chunk, so a cancelled
// conversion stops within one chunk and the writer removes its temporary
// file.
type rowReader struct {
	k        *tracker
	index    int
	name     string
	rows     int
	rowBytes int
	encode   func(r int, dst []byte) error
	row      int
	buf      []byte
	pending  []byte
	started  bool
	// src is the mapped input the rows come from (nil for vectors); with
	// rowMajor its first row·len/rows bytes are done once row rows are.
	src      func() ([]byte, error)
	rowMajor bool
}

func (rr *rowReader) Read(p []byte) (int, error) {
	if !rr.started {
		rr.started = true
		rr.k.begin(rr.index, rr.name)
	}
	n := 0
	for len(p) > 0 {
		if len(rr.pending) == 0 {
			if rr.row == rr.rows {
				break
			}
			if err := rr.k.ctx.Err(); err != nil {
				return n, err
			}
			if err := rr.fill(); err != nil {
				return n, err
			}
		}
		c := copy(p, rr.pending)
		rr.pending, p, n = rr.pending[c:], p[c:], n+c
	}
	rr.k.add(n)
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

func (rr *rowReader) fill() error {
	k := max(1, min(rr.rows-rr.row, chunkBytes/max(1, rr.rowBytes)))
	if rr.buf == nil {
		if n := k * rr.rowBytes; len(rr.k.buf) < n {
			rr.k.buf = make([]byte, n)
		}
		rr.buf = rr.k.buf
	}
	for i := range k {
		if err := rr.encode(rr.row+i, rr.buf[i*rr.rowBytes:(i+1)*rr.rowBytes]); err != nil {
			return err
		}
	}
	rr.pending = rr.buf[:k*rr.rowBytes]
	rr.row += k
	if rr.src != nil && (rr.rowMajor || rr.row == rr.rows) {
		if b, err := rr.src(); err == nil {
			dropPages(b[:int(int64(len(b))*int64(rr.row)/int64(rr.rows))])
		}
	}
	return nil
}

// reader returns the stream of t's bytes in the output encoding.
func (t *outTensor) reader(k *tracker, index int, o *resolved) *rowReader {
	rr := &rowReader{k: k, index: index, name: t.name}
	switch t.role {
	case roleNorm, roleVector:
		rr.rows, rr.rowBytes = 1, 4*len(t.vec)
		rr.encode = func(_ int, dst []byte) error {
			for i, f := range t.vec {
				binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(f))
			}
			return nil
		}
	case roleEmbed, roleHead:
		rr.src, rr.rowMajor = t.srcT.data, true
		rr.rows = t.rows
		var src []byte
		enc, cols := t.srcT.enc, t.cols
		if o.head == HeadInt8 {
			rr.rowBytes = cols
			rr.encode = func(r int, dst []byte) error {
				if src == nil {
					var err error
					if src, err = t.srcT.data(); err != nil {
						return err
					}
				}
				quantizeRow(dst, enc, src, r*cols, t.rowScales[r])
				return nil
			}
		} else {
			rr.rowBytes = 2 * cols
			rr.encode = func(r int, dst []byte) error {
				if src == nil {
					var err error
					if src, err = t.srcT.data(); err != nil {
						return err
					}
				}
				for i := range cols {
					binary.LittleEndian.PutUint16(dst[2*i:], ternary.F32ToF16(floatAt(enc, src, r*cols+i)))
				}
				return nil
			}
		}
	case roleTernary:
		rr.src, rr.rowMajor = t.srcT.data, t.srcT.enc != encU8
		rr.rows = t.rows
		w := make([]int8, t.cols)
		pack := simd.PackI2B128
		rr.rowBytes = simd.RowBytesI2B128(t.cols)
		if o.ternary == Ternary16 {
			pack, rr.rowBytes = simd.PackT5B160, simd.RowBytesT5B160(t.cols)
		}
		rr.encode = func(r int, dst []byte) error {
			if err := t.dec.Row(r, w); err != nil {
				return err
			}
			pack(dst, w)
			return nil
		}
		if t.srcT.enc == encU8 && o.ternary == Ternary2 && t.cols%simd.BlockI2B128 == 0 {
			// HF packed codes are w+1 like i2b128's: move each 2-bit field
			// from its row chunk (bits 2c of packed row r%(rows/4), HFT
			// unpack_weights) to its i2b128 place (byte j of a 128-weight
			// block holds weights j, j+32, j+64, j+96 from the top bits
			// down, simd/layout.go) without going through int8 values.
			// prepare has checked every code.
			var src []byte
			pr, cols := t.rows/4, t.cols
			rr.encode = func(r int, dst []byte) error {
				if src == nil {
					var err error
					if src, err = t.srcT.data(); err != nil {
						return err
					}
				}
				row := src[(r%pr)*cols : (r%pr+1)*cols]
				shift := 2 * uint(r/pr)
				for blk := 0; blk < cols/128; blk++ {
					s := row[128*blk : 128*blk+128]
					d := dst[32*blk : 32*blk+32]
					for j := range 32 {
						d[j] = (s[j]>>shift&3)<<6 | (s[j+32]>>shift&3)<<4 | (s[j+64]>>shift&3)<<2 | s[j+96]>>shift&3
					}
				}
				return nil
			}
		}
		if t.srcT.enc == encI2S && o.i2s == ternary.I2SX86 && o.ternary == Ternary2 && t.cols%simd.BlockI2B128 == 0 {
			// The x86 I2_S block layout is the i2b128 layout (simd/layout.go,
			// architectures.md §5.2), and with whole blocks per row each row
			// is its own run of bytes: copy them. prepare has checked every
			// code.
			var src []byte
			rb := rr.rowBytes
			rr.encode = func(r int, dst []byte) error {
				if src == nil {
					var err error
					if src, err = t.srcT.data(); err != nil {
						return err
					}
				}
				copy(dst, src[r*rb:(r+1)*rb])
				return nil
			}
		}
	}
	if t.rowOf != nil {
		// Rows move only within a head, so the pages dropped behind a
		// chunk (fill) are at most one head's rows early; a row read again
		// is faulted in again.
		enc := rr.encode
		rr.encode = func(r int, dst []byte) error { return enc(t.rowOf(r), dst) }
	}
	return rr
}

// quantizeRow writes one row as int8 with the row's scale s = max|w|/127:
// q = round(w/s) (half to even), so the largest weight maps to ±127.
func quantizeRow(dst []byte, enc encoding, src []byte, base int, s float32) {
	if s == 0 {
		clear(dst)
		return
	}
	inv := 1 / float64(s)
	for i := range dst {
		q := math.RoundToEven(float64(floatAt(enc, src, base+i)) * inv)
		dst[i] = byte(int8(max(-127, min(127, q))))
	}
}
