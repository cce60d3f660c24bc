// Command _asm generates the amd64 kernels of package simd with avo
// (github.com/mmcloughlin/avo). Run it through go generate in simd:
//
//	go run . -out ../tdot_amd64.s -stubs ../tdot_stub_amd64.go -pkg simd
//
// Every kernel is coarse: one call covers a block of rows (and, for prefill,
// four tokens), never one element. Physical registers are named throughout
// so the register plans below stay visible and so the VEX BYTE encodings
// (vex.go) know their operands.
package main

import (
	"fmt"
	"math"
	"math/bits"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/buildtags"
	"github.com/mmcloughlin/avo/ir"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// inst emits an instruction avo's database lacks (the EVEX VNNI forms) but
// the Go assembler knows. Operands are in Go order; the last is written.
func inst(op string, ops ...Op) {
	Instruction(&ir.Instruction{Opcode: op, Operands: ops, Inputs: ops, Outputs: ops[len(ops)-1:]})
}

// vpdpbusd: acc += Σ4 u8(u)·s8(s) per dword (Go order: s, u, acc).
func vpdpbusd(s, u, acc Op) { inst("VPDPBUSD", s, u, acc) }

// vpdpwssd: acc += Σ2 s16(a)·s16(b) per dword.
func vpdpwssd(a, b, acc Op) { inst("VPDPWSSD", a, b, acc) }

var (
	zs = []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
		Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}
	xs = []VecPhysical{X0, X1, X2, X3, X4, X5, X6, X7, X8, X9, X10, X11, X12, X13, X14, X15}
)

// Constants, 64 bytes each so zmm and ymm code can share them.
var (
	cMask03, cMask0C, cMask30, cMaskC0 Mem
	cMaskFF00, cOnesW, cOnesB, cSign   Mem
	cPow3                              [6]Mem // words 3^k, k = 1..5
)

func bytes64(name string, f func(i int) byte) Mem {
	m := GLOBL(name, RODATA|NOPTR)
	for i := 0; i < 64; i++ {
		DATA(i, U8(f(i)))
	}
	return m
}

func consts() {
	cMask03 = bytes64("mask03", func(int) byte { return 0x03 })
	cMask0C = bytes64("mask0c", func(int) byte { return 0x0c })
	cMask30 = bytes64("mask30", func(int) byte { return 0x30 })
	cMaskC0 = bytes64("maskc0", func(int) byte { return 0xc0 })
	cMaskFF00 = bytes64("maskff00", func(i int) byte { return byte(i % 2 * 0xff) })
	cOnesW = bytes64("onesw", func(i int) byte { return byte(1 - i%2) })
	cOnesB = bytes64("onesb", func(int) byte { return 0x01 })
	cSign = bytes64("sign80", func(int) byte { return 0x80 })
	p := 1
	for k := 1; k <= 5; k++ {
		p *= 3
		v := p
		cPow3[k] = bytes64(fmt.Sprintf("pow3w%d", k), func(i int) byte { return byte(v >> (8 * (i % 2))) })
	}
}

func main() {
	Constraint(buildtags.Term("gc"))
	Constraint(buildtags.Not("purego"))
	Constraint(buildtags.Not("noasm"))
	consts()
	t2DecodeZ()
	t2DecodeZ8()
	t2DecodeAVX2()
	t2DecodeVEXVNNI()
	t16DecodeZ()
	t16DecodeAVX2()
	t16DecodeVEXVNNI()
	t2MatMulZ()
	t2MatMulAVX2()
	t2MatMulVEXVNNI()
	i8Z()
	i8AVX2()
	i8VEXVNNI()
	for _, k := range floatKinds {
		floatAVX2(k)
		floatZ(k)
	}
	f32x4Z()
	wsumKernels()
	quantKernels()
	expKernel()
	sigmoidKernels()
	argmaxKernel()
	normKernels()
	elementKernels()
	readStream()
	Generate()
}

// rowMem addresses row i (0..3) of a group from base b: b, b+s, b+2s, b+s3.
func rowMem(b, s, s3 Register, i, disp int) Mem {
	switch i {
	case 0:
		return Mem{Base: b, Disp: disp}
	case 1:
		return Mem{Base: b, Index: s, Scale: 1, Disp: disp}
	case 2:
		return Mem{Base: b, Index: s, Scale: 2, Disp: disp}
	case 3:
		return Mem{Base: b, Index: s3, Scale: 1, Disp: disp}
	}
	panic("rowMem")
}

// hsumY reduces the eight dwords of y (Y0..Y15) into the low dword of its xmm
// register, using tmp as scratch, and moves it to out.
func hsumY(y int, tmp int, out Register) {
	VEXTRACTI128(U8(1), ys[y], xs[tmp])
	VPADDD(xs[tmp], xs[y], xs[y])
	VPSHUFD(U8(0x4e), xs[y], xs[tmp])
	VPADDD(xs[tmp], xs[y], xs[y])
	VPSHUFD(U8(0xb1), xs[y], xs[tmp])
	VPADDD(xs[tmp], xs[y], xs[y])
	VMOVD(xs[y], out)
}

// zeroZ clears zmm registers.
func zeroZ(rs ...int) {
	for _, r := range rs {
		VPXORD(zs[r], zs[r], zs[r])
	}
}

func zeroY(rs ...int) {
	for _, r := range rs {
		VPXOR(ys[r], ys[r], ys[r])
	}
}

// storePairs stores rows of a zmm row-pair group: accumulator zs[acc[p]]
// holds row 2p in its low half and row 2p+1 in its high half. The high
// halves go to ys[hiTmp[p]]. Results minus the xsum in sub are written to
// dst+4*row for row < n.
func storePairs(acc, hiTmp []int, n int, dst Register, sub Op, out Register) {
	for p := range acc {
		VEXTRACTI64X4(U8(1), zs[acc[p]], ys[hiTmp[p]])
	}
	for p := range acc {
		for h, y := range []int{acc[p], hiTmp[p]} {
			row := 2*p + h
			if row >= n {
				continue
			}
			hsumY(y, 15, out)
			SUBL(sub, out)
			MOVL(out, Mem{Base: dst, Disp: 4 * row})
		}
	}
}

// yz returns the ymm alias of zmm register i (0..31).
func yz(i int) VecPhysical { return yAll[i] }

var yAll = []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15,
	Y16, Y17, Y18, Y19, Y20, Y21, Y22, Y23, Y24, Y25, Y26, Y27, Y28, Y29, Y30, Y31}

// loadPair loads the 32-byte blocks of rows r0 and r1 (r1 < 0: none, the
// high half stays zero) into zmm register z.
func loadPair(z int, m0 Mem, m1 *Mem) {
	VMOVDQU64(m0, yz(z))
	if m1 != nil {
		VINSERTI64X4(U8(1), *m1, zs[z], zs[z])
	}
}

// groupRows returns the memory operands of row r (0..7) of a group at
// block offset disp: rows 0-3 from R14, rows 4-7 from R15 (= R14 + 4·stride).
func groupRow(r, disp int) Mem {
	if r < 4 {
		return rowMem(R14, RDX, R12, r, disp)
	}
	return rowMem(R15, RDX, R12, r-4, disp)
}

// pairRows returns the row memory operands of pair p, nil for the missing
// partner of a single last row.
func pairRows(p int, single bool) (Mem, *Mem) {
	m0 := groupRow(2*p, 0)
	if single {
		return m0, nil
	}
	m1 := groupRow(2*p+1, 0)
	return m0, &m1
}

// prefetchGroup prefetches the current block of the next row group (rows
// from RCX, and from R8 for rows 4-7). The hardware streamers do not cross
// 4 KiB pages and see eight interleaved streams per page or fewer, so the
// next group's rows are requested one group ahead, into L2 (T1): a whole
// group ahead can exceed L1 next to the activations. PREFETCH never faults,
// so running past the last row is harmless.
func prefetchGroup(rows int) {
	for i := 0; i < rows; i++ {
		b := RCX
		if i >= 4 {
			b = R8
		}
		PREFETCHT1(rowMem(b, RDX, R12, i%4, 0))
	}
}

// ---------------------------------------------------------------------------
// i2b128 decode, AVX-512 VNNI.
//
// One zmm load takes two blocks (64 bytes) of a row. The caller permutes the
// activations once per call (t2Permute) so that for each code position
// (weights j, j+32, j+64, j+96 of a block) the 64 matching activations of
// the two blocks are contiguous; VPDPBUSD then reads them straight from
// memory. Each code position is isolated by a mask alone, without a shift
// (0xc0, 0x30, 0x0c, 0x03), so the codes arrive scaled by 64, 16, 4 and 1
// and go to four accumulators that are scaled back (exact arithmetic
// shifts) at the end: per 256 weights of a row four VPANDD and four
// VPDPBUSD, the dot-product unit's limit. Four rows share the activation
// lines in L1; an odd last block is loaded as ymm (high half zero, and the
// permuted activations there are zero too).
//
// The four rows of a group are not neighbours but q = rows/4 rows apart
// (rows g, g+q, g+2q, g+3q), so the kernel reads four sequential streams
// in four different pages at once. The hardware streamers work within a
// 4 KiB page, one stream each: one sequential stream (four neighbouring
// rows walk one page) leaves most of a core's bandwidth unused, four come
// close to the eight-stream read loop of MeasureReadBandwidth (on a Xeon
// with AVX-512 VNNI, one thread: 18.5 GB/s against 12.4 for neighbouring
// rows and 19.7 for the read loop, best of 25 interleaved passes over
// 141 MB). Each stream also prefetches quadPrefetch bytes ahead. The
// rows left over (rows mod 4) follow one by one.

// pairGroups emits the group/loop skeleton of the row-pair kernels (t5b160
// decode): a zmm holds the same block of two rows (VINSERTI64X4), so a
// broadcast activation slice serves both; rows come in groups of four pairs,
// then single pairs, then an odd last row (high half zero); body emits one
// block for the group; finish reduces and stores.
func pairGroups(prefix string, blockBytes, xStep int, setup func(), zeroAccs func(pairs int), body func(pairs int, single bool), finish func(pairs int, single bool)) {
	for _, g := range []struct {
		pairs  int
		single bool
	}{{4, false}, {1, false}, {1, true}} {
		name := fmt.Sprintf("%s_p%d", prefix, g.pairs)
		rows := 2 * g.pairs
		if g.single {
			name += "s"
			rows = 1
		}
		Label(name)
		CMPQ(R10, U32(rows))
		JL(LabelRef(name + "_end"))
		zeroAccs(g.pairs)
		MOVQ(RSI, R14)
		LEAQ(Mem{Base: RSI, Index: RDX, Scale: 4}, R15)
		prefetch := g.pairs == 4
		if prefetch {
			// RCX, R8: rows 0-3 and 4-7 of the next group.
			LEAQ(Mem{Base: R15, Index: RDX, Scale: 4}, RCX)
			LEAQ(Mem{Base: RCX, Index: RDX, Scale: 4}, R8)
		}
		setup()
		Load(Param("blocks"), R13)
		TESTQ(R13, R13)
		JZ(LabelRef(name + "_reduce"))
		Label(name + "_loop")
		if prefetch {
			prefetchGroup(8)
		}
		body(g.pairs, g.single)
		if prefetch {
			ADDQ(U32(blockBytes), RCX)
			ADDQ(U32(blockBytes), R8)
		}
		ADDQ(U32(blockBytes), R14)
		ADDQ(U32(blockBytes), R15)
		ADDQ(U32(xStep), RBX)
		DECQ(R13)
		JNZ(LabelRef(name + "_loop"))
		Label(name + "_reduce")
		finish(g.pairs, g.single)
		ADDQ(U32(4*rows), RDI)
		for i := 0; i < rows; i++ {
			ADDQ(RDX, RSI)
		}
		SUBQ(U32(rows), R10)
		if g.single {
			Label(name + "_end")
		} else {
			JMP(LabelRef(name))
			Label(name + "_end")
		}
	}
}

// quadRow is row r (0-3) of a four-stream group: base, base+Q, base+2Q,
// base+3Q with Q in R8 and 3Q in R15.
func quadRow(b Register, r, disp int) Mem {
	switch r {
	case 0:
		return Mem{Base: b, Disp: disp}
	case 1:
		return Mem{Base: b, Index: R8, Scale: 1, Disp: disp}
	case 2:
		return Mem{Base: b, Index: R8, Scale: 2, Disp: disp}
	}
	return Mem{Base: b, Index: R15, Scale: 1, Disp: disp}
}

// t2zQuadStep is t2zStep for the four rows of a four-stream group.
func t2zQuadStep(tail bool) {
	for r := 0; r < 4; r++ {
		w := zs[16+r%2]
		m := quadRow(R14, r, 0)
		if tail {
			VMOVDQU64(m, yz(16+r%2))
		} else {
			VMOVDQU64(m, w)
		}
		for k := 0; k < 4; k++ {
			t := zs[18+(r*4+k)%6]
			VPANDD(zs[28+k], w, t)
			vpdpbusd(Mem{Base: RBX, Disp: 64 * k}, t, zs[4*r+k])
		}
	}
}

// t2zReduce sums row r's four accumulators into EAX (minus xsum).
func t2zReduce(r int) {
	a := 4 * r
	for k, sh := range []int{6, 4, 2} {
		VPSRAD(U8(sh), zs[a+k], zs[a+k])
	}
	VPADDD(zs[a+1], zs[a], zs[a])
	VPADDD(zs[a+3], zs[a+2], zs[a+2])
	VPADDD(zs[a+2], zs[a], zs[a])
	VEXTRACTI64X4(U8(1), zs[a], ys[a+1])
	VPADDD(ys[a+1], ys[a], ys[a])
	hsumY(a, a+2, EAX)
	SUBL(R11L, EAX)
}

// quadPrefetch is how far ahead, in bytes, each of the four streams of the
// four-stream kernels prefetches: 2 KiB, whatever the row length (a
// distance in rows overshoots L1 with long rows: at 4 KiB rows, four rows
// ahead ran at 15.1 GB/s against 17.5 for 2 KiB, one thread, best of 12
// interleaved passes over 424 MB; at 640-byte rows the two are equal).
const quadPrefetch = 2048

func t2DecodeZ() {
	TEXT("t2DecodeVNNI512", NOSPLIT, "func(dst *int32, w *byte, stride int, xp *int8, blocks int, rows int, xsum int32)")
	Pragma("noescape")
	Doc("t2DecodeVNNI512 writes dst[r] = Σ code·x - xsum for r < rows (i2b128, AVX-512 VNNI); xp from t2Permute.")
	Load(Param("dst"), RDI)
	Load(Param("w"), RSI)
	Load(Param("stride"), RDX)
	Load(Param("rows"), R10)
	Load(Param("xsum"), R11L)
	for k, m := range []Mem{cMaskC0, cMask30, cMask0C, cMask03} {
		VPBROADCASTD(m, zs[28+k])
	}
	// R9 = q groups; R8 = q·stride; R15 = 3·R8; R12 = 4q (dst bytes).
	MOVQ(R10, R9)
	SHRQ(U8(2), R9)
	JZ(LabelRef("t2q_rest"))
	MOVQ(R9, R8)
	IMULQ(RDX, R8)
	LEAQ(Mem{Base: R8, Index: R8, Scale: 2}, R15)
	MOVQ(R9, R12)
	SHLQ(U8(2), R12) // 4q
	Label("t2q_group")
	for i := 0; i < 16; i++ {
		zeroZ(i)
	}
	MOVQ(RSI, R14)
	Load(Param("xp"), RBX)
	Load(Param("blocks"), R13)
	SHRQ(U8(1), R13)
	JZ(LabelRef("t2q_tail"))
	Label("t2q_loop")
	for r := 0; r < 4; r++ {
		PREFETCHT0(quadRow(R14, r, quadPrefetch))
	}
	t2zQuadStep(false)
	ADDQ(U8(64), R14)
	ADDQ(U32(256), RBX)
	DECQ(R13)
	JNZ(LabelRef("t2q_loop"))
	Label("t2q_tail")
	Load(Param("blocks"), R13)
	TESTQ(U32(1), R13)
	JZ(LabelRef("t2q_reduce"))
	t2zQuadStep(true)
	Label("t2q_reduce")
	t2zReduce(0)
	MOVL(EAX, Mem{Base: RDI})
	t2zReduce(1)
	MOVL(EAX, Mem{Base: RDI, Index: R12, Scale: 1})
	t2zReduce(2)
	MOVL(EAX, Mem{Base: RDI, Index: R12, Scale: 2})
	t2zReduce(3)
	LEAQ(Mem{Base: RDI, Index: R12, Scale: 2}, RCX)
	MOVL(EAX, Mem{Base: RCX, Index: R12, Scale: 1})
	ADDQ(U8(4), RDI)
	ADDQ(RDX, RSI)
	DECQ(R9)
	JNZ(LabelRef("t2q_group"))
	// Past the four streams: rows 4q.. (at most three) one by one.
	ADDQ(R15, RSI)
	LEAQ(Mem{Base: R12, Index: R12, Scale: 2}, RCX)
	ADDQ(RCX, RDI)
	ANDQ(U8(3), R10)
	Label("t2q_rest")
	TESTQ(R10, R10)
	JZ(LabelRef("t2q_done"))
	Label("t2q_r1")
	for i := 0; i < 4; i++ {
		zeroZ(i)
	}
	MOVQ(RSI, R14)
	Load(Param("xp"), RBX)
	Load(Param("blocks"), R13)
	SHRQ(U8(1), R13)
	JZ(LabelRef("t2q_r1_tail"))
	Label("t2q_r1_loop")
	t2zStep(1, false)
	ADDQ(U8(64), R14)
	ADDQ(U32(256), RBX)
	DECQ(R13)
	JNZ(LabelRef("t2q_r1_loop"))
	Label("t2q_r1_tail")
	Load(Param("blocks"), R13)
	TESTQ(U32(1), R13)
	JZ(LabelRef("t2q_r1_reduce"))
	t2zStep(1, true)
	Label("t2q_r1_reduce")
	t2zReduce(0)
	MOVL(EAX, Mem{Base: RDI})
	ADDQ(U8(4), RDI)
	ADDQ(RDX, RSI)
	DECQ(R10)
	JNZ(LabelRef("t2q_r1"))
	Label("t2q_done")
	VZEROUPPER()
	RET()
}

// eightStreams starts the groups of an eight-stream kernel (rows q =
// rows/8 apart; rows 0-3 at a base + {0,1,2,3}·Q, rows 4-7 at base + 4Q +
// the same, see quadRow): R9 = q groups, R8 = Q = q·stride, R15 = 3Q, R12 =
// 4q (the distance of their outputs in dst), or a jump to skip when rows <
// 8. RDX holds the stride and R10 the rows.
func eightStreams(skip string) {
	MOVQ(R10, R9)
	SHRQ(U8(3), R9)
	JZ(LabelRef(skip))
	MOVQ(R9, R8)
	IMULQ(RDX, R8)
	LEAQ(Mem{Base: R8, Index: R8, Scale: 2}, R15)
	MOVQ(R9, R12)
	SHLQ(U8(2), R12)
}

// streamOut addresses row k (0-7) of an eight-stream group's outputs,
// dst + k·4q, through RCX.
func streamOut(k int) Mem {
	MOVQ(RDI, RCX)
	for i := 0; i < k; i++ {
		ADDQ(R12, RCX)
	}
	return Mem{Base: RCX}
}

// eightStreamsRest moves RSI and RDI from the last group's first row to
// row 8q, where the rows past the eight streams (R10 = rows mod 8) follow
// one by one.
func eightStreamsRest() {
	LEAQ(Mem{Base: R8, Index: R8, Scale: 1}, RCX)   // 2Q
	LEAQ(Mem{Base: RCX, Index: RCX, Scale: 2}, RCX) // 6Q
	ADDQ(R8, RCX)                                   // 7Q
	ADDQ(RCX, RSI)
	LEAQ(Mem{Base: R12, Index: R12, Scale: 2}, RCX) // 3·4q
	LEAQ(Mem{Base: RCX, Index: R12, Scale: 4}, RCX) // 7·4q
	ADDQ(RCX, RDI)
	ANDQ(U8(7), R10)
}

// t2DecodeZ8 is t2DecodeVNNI512 over eight streams: the eight rows of a
// group are q = rows/8 apart, and a zmm holds one block (32 bytes) of two
// of them (VINSERTI64X4), so the sixteen accumulators serve eight rows: four
// row pairs × four code positions. The activations of a block's code
// position are broadcast to both halves (VBROADCASTI64X4 from the permuted
// layout of t2Permute). rows must be a multiple of 8 (the caller runs the
// rest through t2DecodeVNNI512). Per 256 weights of a row: four VPANDD and
// four VPDPBUSD as before, plus one VINSERTI64X4 per row pair and block, so
// it is slower from the caches and faster from memory, where eight streams
// keep more lines in flight than four (see t2x8MinBytes in tdot_amd64.go).
func t2DecodeZ8() {
	TEXT("t2DecodeVNNI512x8", NOSPLIT, "func(dst *int32, w *byte, stride int, xp *int8, blocks int, rows int, xsum int32)")
	Pragma("noescape")
	Doc("t2DecodeVNNI512x8 writes dst[r] = Σ code·x - xsum for r < rows, rows a multiple of 8 (i2b128, AVX-512 VNNI, eight streams); xp from t2Permute.")
	Load(Param("dst"), RDI)
	Load(Param("w"), RSI)
	Load(Param("stride"), RDX)
	Load(Param("rows"), R10)
	Load(Param("xsum"), R11L)
	for k, m := range []Mem{cMaskC0, cMask30, cMask0C, cMask03} {
		VPBROADCASTD(m, zs[28+k])
	}
	eightStreams("t2e_done")
	Label("t2e_group")
	for i := 0; i < 16; i++ {
		zeroZ(i)
	}
	MOVQ(RSI, R14)
	LEAQ(Mem{Base: RSI, Index: R8, Scale: 4}, RAX) // rows 4-7
	Load(Param("xp"), RBX)
	Load(Param("blocks"), R13)
	SHRQ(U8(1), R13)
	JZ(LabelRef("t2e_tail"))
	Label("t2e_loop")
	for r := 0; r < 4; r++ {
		PREFETCHT0(quadRow(R14, r, quadPrefetch))
		PREFETCHT0(quadRow(RAX, r, quadPrefetch))
	}
	t2e8Block(0)
	t2e8Block(1)
	ADDQ(U8(64), R14)
	ADDQ(U8(64), RAX)
	ADDQ(U32(256), RBX)
	DECQ(R13)
	JNZ(LabelRef("t2e_loop"))
	Label("t2e_tail")
	Load(Param("blocks"), R13)
	TESTQ(U32(1), R13)
	JZ(LabelRef("t2e_reduce"))
	t2e8Block(0)
	Label("t2e_reduce")
	// Pair p holds rows 2p (low half) and 2p+1 (high half): row k is
	// stored at dst + k·4q.
	for p := 0; p < 4; p++ {
		a := 4 * p
		for k, sh := range []int{6, 4, 2} {
			VPSRAD(U8(sh), zs[a+k], zs[a+k])
		}
		VPADDD(zs[a+1], zs[a], zs[a])
		VPADDD(zs[a+3], zs[a+2], zs[a+2])
		VPADDD(zs[a+2], zs[a], zs[a])
		VEXTRACTI64X4(U8(1), zs[a], ys[a+1]) // row 2p+1
		for h := 0; h < 2; h++ {
			hsumY(a+h, a+2, EAX)
			SUBL(R11L, EAX)
			MOVL(EAX, streamOut(2*p+h))
		}
	}
	ADDQ(U8(4), RDI)
	ADDQ(RDX, RSI)
	DECQ(R9)
	JNZ(LabelRef("t2e_group"))
	Label("t2e_done")
	VZEROUPPER()
	RET()
}

// t2e8Block is one block (32 bytes, half of a 64-byte step) of every row
// of a t2DecodeVNNI512x8 group: rows 0-3 at R14 + r·Q, rows 4-7 at RAX +
// r·Q (Q in R8, 3Q in R15), the activations of code position g of this
// half at RBX + 64g + 32·half.
func t2e8Block(half int) {
	for g := 0; g < 4; g++ {
		VBROADCASTI64X4(Mem{Base: RBX, Disp: 64*g + 32*half}, zs[24+g])
	}
	for p := 0; p < 4; p++ {
		ra, rb := 2*p, 2*p+1
		row := func(r int) Mem {
			if r < 4 {
				return quadRow(R14, r, 32*half)
			}
			return quadRow(RAX, r-4, 32*half)
		}
		w := zs[16+p]
		VMOVDQU64(row(ra), yz(16+p))
		VINSERTI64X4(U8(1), row(rb), w, w)
		for g := 0; g < 4; g++ {
			t := zs[20+g]
			VPANDD(zs[28+g], w, t)
			vpdpbusd(zs[24+g], t, zs[4*p+g])
		}
	}
}

// t2zStep is one step of t2DecodeVNNI512: two blocks (64 bytes) of each
// row, or with tail one block loaded as ymm so the high half is zero. The
// activations come straight from memory as the s8 operand, already
// permuted so that 64 bytes line up with the 64 codes of one mask.
func t2zStep(rows int, tail bool) {
	for r := 0; r < rows; r++ {
		w := zs[16+r%2]
		m := rowMem(R14, RDX, R12, r, 0)
		if tail {
			VMOVDQU64(m, yz(16+r%2))
		} else {
			VMOVDQU64(m, w)
		}
		for k := 0; k < 4; k++ {
			t := zs[18+(r*4+k)%6]
			VPANDD(zs[28+k], w, t)
			vpdpbusd(Mem{Base: RBX, Disp: 64 * k}, t, zs[4*r+k])
		}
	}
}

// ---------------------------------------------------------------------------
// i2b128 decode, AVX2. Codes are split with one shift and four masks: w&3
// (weights j+96) and (w>>4)&3 (j+32) at scale 1, w&0x0c (j+64) and
// (w>>4)&0x0c (j) at scale 4. VPMADDUBSW (u8 code × s8 activation, pairs
// summed to s16) turns each into 16 words; per row two int16 sums collect
// them over a group of up to t2Group blocks, A the scale-1 words and B the
// scale-4 words, and only then is the group widened: B>>2 (exact, B is a
// multiple of 4) is added to A and VPMADDWD by ones adds the pairs into the
// int32 row sum. No int16 value can overflow or saturate, for any byte
// (code 3, which no packer writes but a corrupt or hostile file may hold,
// counts as 3·x, as in the generic kernel): one VPMADDUBSW word is at most
// 2·3·128 = 768 in magnitude at scale 1 and 2·12·128 = 3072 at scale 4, so
// per block A gains at most 1536 and B at most 6144, and after t2Group = 4
// blocks |A| <= 6144, |B| <= 24576 < 32768 and |A + B>>2| <= 12288 (with
// valid codes, at most 2: 4096, 16384 and 8192). bitnet.cpp's AVX2 I2_S
// kernel instead sums 32 blocks in int16, up to 32·4·512 = 65536 in
// magnitude with valid codes, which can overflow for adversarial
// activations.

// rowGroups is the ymm skeleton: groups of 4 rows, then single rows. Per
// row group, body covers one step (blockBytes of each row, xStep bytes of
// the activations at RBX) and runs countParam times.
func rowGroups(prefix, countParam string, blockBytes, xStep int, setup func(), zeroAccs func(rows int), body func(rows int), finish func(rows int)) {
	rowGroupsPrefetch(prefix, countParam, blockBytes, xStep, PREFETCHT1, setup, zeroAccs, body, finish)
}

// floatRowGroups is rowGroups for the float kernels, whose streams are
// prefetched into L1 (T0): the attention scores (MatVecF32x4 over 1025
// positions of one KV head, from memory, one thread) ran at 15.5–16.2
// GB/s with T0 against 13.1–15.2 with T1 (three alternating runs each);
// the 2-bit kernels keep T1.
func floatRowGroups(prefix, countParam string, blockBytes, xStep int, setup func(), zeroAccs func(rows int), body func(rows int), finish func(rows int)) {
	rowGroupsPrefetch(prefix, countParam, blockBytes, xStep, PREFETCHT0, setup, zeroAccs, body, finish)
}

// rowGroupsPrefetch is rowGroups with the prefetch instruction given.
func rowGroupsPrefetch(prefix, countParam string, blockBytes, xStep int, prefetch func(Op), setup func(), zeroAccs func(rows int), body func(rows int), finish func(rows int)) {
	rowGroupsLoop(prefix, setup, zeroAccs, func(name string, rows int) {
		Load(Param(countParam), R13)
		TESTQ(R13, R13)
		JZ(LabelRef(name + "_reduce"))
		Label(name + "_loop")
		if rows == 4 {
			for i := 0; i < 4; i++ {
				prefetch(rowMem(R14, RDX, R12, i, quadPrefetch))
			}
		}
		body(rows)
		ADDQ(U32(blockBytes), R14)
		ADDQ(U32(xStep), RBX)
		DECQ(R13)
		JNZ(LabelRef(name + "_loop"))
	}, finish)
}

// rowGroupsLoop is rowGroups with the loop over the row group's data left
// to loop: it starts with R14 at the group's first row and RBX (after
// setup) at the activations, and ends at or jumps to name+"_reduce", where
// finish stores the rows.
func rowGroupsLoop(prefix string, setup func(), zeroAccs func(rows int), loop func(name string, rows int), finish func(rows int)) {
	// Groups of four rows q = rows/4 apart: four streams in four pages, as
	// in t2DecodeVNNI512. For the group loop RDX and R12 hold q·stride and
	// 3·q·stride, so body's rowMem(R14, RDX, R12, r) reaches the four
	// streams unchanged; R15 keeps the stride, R9 = 4q and R8 = 12q are the
	// output distances (rowOut), R10 counts the groups.
	name := prefix + "_q"
	MOVQ(R10, R9)
	SHRQ(U8(2), R9)
	JZ(LabelRef(name + "_end"))
	MOVQ(R9, R10)
	MOVQ(RDX, R15)
	IMULQ(R9, RDX)
	LEAQ(Mem{Base: RDX, Index: RDX, Scale: 2}, R12)
	SHLQ(U8(2), R9)
	LEAQ(Mem{Base: R9, Index: R9, Scale: 2}, R8)
	Label(name)
	zeroAccs(4)
	MOVQ(RSI, R14)
	setup()
	loop(name, 4)
	Label(name + "_reduce")
	finish(4)
	ADDQ(U8(4), RDI)
	ADDQ(R15, RSI)
	DECQ(R10)
	JNZ(LabelRef(name))
	// Past the streams: rows 4q.. one by one, at the real stride.
	ADDQ(R12, RSI)
	ADDQ(R8, RDI)
	MOVQ(R15, RDX)
	LEAQ(Mem{Base: RDX, Index: RDX, Scale: 2}, R12)
	Load(Param("rows"), R10)
	ANDQ(U8(3), R10)
	Label(name + "_end")
	r1 := prefix + "_r1"
	Label(r1)
	TESTQ(R10, R10)
	JZ(LabelRef(r1 + "_end"))
	zeroAccs(1)
	MOVQ(RSI, R14)
	setup()
	loop(r1, 1)
	Label(r1 + "_reduce")
	finish(1)
	ADDQ(U8(4), RDI)
	ADDQ(RDX, RSI)
	DECQ(R10)
	JMP(LabelRef(r1))
	Label(r1 + "_end")
}

// rowOut is the output of row r of a rowGroups group: dst + r·4q bytes
// (R9 = 4q, R8 = 12q); row 0 only in the one-by-one loop.
func rowOut(r int) Mem {
	switch r {
	case 0:
		return Mem{Base: RDI}
	case 1:
		return Mem{Base: RDI, Index: R9, Scale: 1}
	case 2:
		return Mem{Base: RDI, Index: R9, Scale: 2}
	}
	return Mem{Base: RDI, Index: R8, Scale: 1}
}

func storeRowsY(rows int, accs []int, sub Op) {
	for r := 0; r < rows; r++ {
		hsumY(accs[r], 13, EAX)
		if sub != nil {
			SUBL(sub, EAX)
		}
		MOVL(EAX, rowOut(r))
	}
}

func ymmPrologue(name, sig, doc string) {
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(doc)
	Load(Param("dst"), RDI)
	Load(Param("w"), RSI)
	Load(Param("stride"), RDX)
	Load(Param("rows"), R10)
	LEAQ(Mem{Base: RDX, Index: RDX, Scale: 2}, R12)
}

// t2Group is how many i2b128 blocks t2DecodeAVX2 and t2MatMul4AVX2 sum in
// int16 before widening (see the bounds above and at t2MatMulAVX2); a power
// of two.
const t2Group = 4

func t2DecodeAVX2() {
	ymmPrologue("t2DecodeAVX2", "func(dst *int32, w *byte, stride int, x *int8, blocks int, rows int, xsum int32)",
		"t2DecodeAVX2 writes dst[r] = Σ code·x - xsum for r < rows (i2b128, AVX2).")
	Load(Param("xsum"), R11L)
	VPBROADCASTD(cMask03, Y15)
	// Registers: Y0-Y3 the int32 row sums, Y4-Y7 the A and Y8-Y11 the B
	// sums of rows 0-3, Y12-Y14 scratch, Y15 the 0x03 mask; the 0x0c mask,
	// the ones and the activations are memory operands.
	rowGroupsLoop("t2y",
		func() { Load(Param("x"), RBX) },
		func(rows int) { zeroY(0, 1, 2, 3) },
		func(name string, rows int) {
			t2GroupLoop(name, func(b int, first bool) {
				if rows == 4 {
					for i := 0; i < 4; i++ {
						PREFETCHT1(rowMem(R14, RDX, R12, i, quadPrefetch+32*b))
					}
				}
				t2yBlock(rows, b, first)
			}, func() { t2yWiden(rows) })
		},
		func(rows int) { storeRowsY(rows, []int{0, 1, 2, 3}, R11L) })
	VZEROUPPER()
	RET()
}

// t2GroupLoop is the block loop of the AVX2 i2b128 kernels, over
// Param("blocks") blocks with R14 at the weights and RBX at the
// activations: blocks/t2Group groups of t2Group blocks, block(b, b == 0)
// for each block b of the group (weights at R14+32b, activations at
// RBX+128b) then widen, and after them the rest one block at a time as
// block(0, true) and widen. It ends at name+"_reduce" (which the caller
// places right after it); R13 counts.
func t2GroupLoop(name string, block func(b int, first bool), widen func()) {
	Load(Param("blocks"), R13)
	SHRQ(U8(bits.TrailingZeros(t2Group)), R13)
	JZ(LabelRef(name + "_one"))
	Label(name + "_loop")
	for b := 0; b < t2Group; b++ {
		block(b, b == 0)
	}
	widen()
	ADDQ(U32(32*t2Group), R14)
	ADDQ(U32(128*t2Group), RBX)
	DECQ(R13)
	JNZ(LabelRef(name + "_loop"))
	Label(name + "_one")
	Load(Param("blocks"), R13)
	ANDQ(U8(t2Group-1), R13)
	JZ(LabelRef(name + "_reduce"))
	Label(name + "_one_loop")
	block(0, true)
	widen()
	ADDQ(U8(32), R14)
	ADDQ(U32(128), RBX)
	DECQ(R13)
	JNZ(LabelRef(name + "_one_loop"))
}

// t2yBlock adds block b of a group (32 bytes at R14+32b in each row, the
// activations at RBX+128b) into the rows' int16 sums A (Y4+r) and B (Y8+r);
// the group's first block sets them instead.
func t2yBlock(rows, b int, first bool) {
	xm := func(k int) Mem { return Mem{Base: RBX, Disp: 128*b + 32*k} }
	for r := 0; r < rows; r++ {
		a, bs := ys[4+r], ys[8+r]
		VMOVDQU(rowMem(R14, RDX, R12, r, 32*b), Y12)
		VPSRLW(U8(4), Y12, Y13)
		if first {
			VPAND(Y15, Y12, a)
			VPMADDUBSW(xm(3), a, a)
			VPAND(cMask0C.Offset(0), Y12, bs)
			VPMADDUBSW(xm(2), bs, bs)
		} else {
			VPAND(Y15, Y12, Y14)
			VPMADDUBSW(xm(3), Y14, Y14)
			VPADDW(Y14, a, a)
			VPAND(cMask0C.Offset(0), Y12, Y12)
			VPMADDUBSW(xm(2), Y12, Y12)
			VPADDW(Y12, bs, bs)
		}
		VPAND(Y15, Y13, Y14)
		VPMADDUBSW(xm(1), Y14, Y14)
		VPADDW(Y14, a, a)
		VPAND(cMask0C.Offset(0), Y13, Y13)
		VPMADDUBSW(xm(0), Y13, Y13)
		VPADDW(Y13, bs, bs)
	}
}

// t2yWiden adds each row's A + B>>2 to its int32 sum (Y0+r).
func t2yWiden(rows int) {
	for r := 0; r < rows; r++ {
		a, bs := ys[4+r], ys[8+r]
		VPSRAW(U8(2), bs, bs)
		VPADDW(bs, a, a)
		VPMADDWD(cOnesW.Offset(0), a, a)
		VPADDD(a, ys[r], ys[r])
	}
}

// i2b128 decode, AVX-VNNI (VEX VPDPBUSD, ymm): the AVX2 split with the dot
// product in one instruction, into an accumulator at scale 1 (A) and one at
// scale 4 (B) per row; the row sum is A + B>>2.
func t2DecodeVEXVNNI() {
	ymmPrologue("t2DecodeAVXVNNI", "func(dst *int32, w *byte, stride int, x *int8, blocks int, rows int, xsum int32)",
		"t2DecodeAVXVNNI writes dst[r] = Σ code·x - xsum for r < rows (i2b128, AVX-VNNI).")
	Load(Param("xsum"), R11L)
	VPBROADCASTD(cMask03, Y15)
	rowGroups("t2v", "blocks", 32, 128,
		func() { Load(Param("x"), RBX) },
		func(rows int) { zeroY(0, 1, 2, 3, 8, 9, 10, 11) },
		func(rows int) {
			for k := 0; k < 4; k++ {
				VMOVDQU(Mem{Base: RBX, Disp: 32 * k}, ys[4+k])
			}
			for r := 0; r < rows; r++ {
				VMOVDQU(rowMem(R14, RDX, R12, r, 0), Y12)
				VPSRLW(U8(4), Y12, Y13)
				VPAND(Y15, Y12, Y14)
				vexDP(opDPBUSD, ys[r], Y14, Y7)
				VPAND(cMask0C.Offset(0), Y12, Y14)
				vexDP(opDPBUSD, ys[8+r], Y14, Y6)
				VPAND(Y15, Y13, Y14)
				vexDP(opDPBUSD, ys[r], Y14, Y5)
				VPAND(cMask0C.Offset(0), Y13, Y14)
				vexDP(opDPBUSD, ys[8+r], Y14, Y4)
			}
		},
		func(rows int) {
			for r := 0; r < rows; r++ {
				VPSRAD(U8(2), ys[8+r], ys[8+r])
				VPADDD(ys[8+r], ys[r], ys[r])
			}
			storeRowsY(rows, []int{0, 1, 2, 3}, R11L)
		})
	VZEROUPPER()
	RET()
}

// ---------------------------------------------------------------------------
// t5b160 decode. With B = byte<<8 in a 16-bit lane, VPMULHUW(B, 3^k) is
// m_k = floor(byte·3^k/256), the first k base-3 digits, and digit k is
// m_{k+1} - 3·m_k (see layout.go). So Σ_k c_k·x_k = Σ_{k=1..5} m_k·y_k with
// y_k = x_{k-1} - 3·x_k (y_5 = x_4), which the caller precomputes once per
// call as int16 (t16Prep): per digit one VPMULHUW and one word dot product,
// no digit is ever isolated. Even bytes enter as VPSLLW 8, odd bytes as
// AND 0xff00; y is stored per block as [k][even|odd][16 words] (320 bytes).

func t16DecodeZ() {
	TEXT("t16DecodeVNNI512", NOSPLIT, "func(dst *int32, w *byte, stride int, y *int16, blocks int, rows int, xsum int32)")
	Pragma("noescape")
	Doc("t16DecodeVNNI512 writes dst[r] = Σ code·x - xsum for r < rows (t5b160, AVX-512 VNNI); y from t16Prep.")
	Load(Param("dst"), RDI)
	Load(Param("w"), RSI)
	Load(Param("stride"), RDX)
	Load(Param("rows"), R10)
	Load(Param("xsum"), R11L)
	LEAQ(Mem{Base: RDX, Index: RDX, Scale: 2}, R12)
	for k := 1; k <= 5; k++ {
		VMOVDQU64(cPow3[k], zs[23+k]) // Z24..Z28
	}
	VMOVDQU64(cMaskFF00, Z29)
	pairGroups("t16z", 32, 320,
		func() { Load(Param("y"), RBX) },
		func(pairs int) {
			for p := 0; p < pairs; p++ {
				zeroZ(p, 4+p)
			}
		},
		func(pairs int, single bool) {
			for p := 0; p < pairs; p++ {
				m0, m1 := pairRows(p, single)
				loadPair(20, m0, m1)
				VPSLLW(U8(8), Z20, zs[8+p])
				VPANDD(Z29, Z20, zs[12+p])
			}
			for k := 1; k <= 5; k++ {
				ye, yo := zs[16+(k%2)*2], zs[17+(k%2)*2]
				VBROADCASTI64X4(Mem{Base: RBX, Disp: 64 * (k - 1)}, ye)
				VBROADCASTI64X4(Mem{Base: RBX, Disp: 64*(k-1) + 32}, yo)
				for p := 0; p < pairs; p++ {
					VPMULHUW(zs[23+k], zs[8+p], Z22)
					vpdpwssd(ye, Z22, zs[p])
					VPMULHUW(zs[23+k], zs[12+p], Z23)
					vpdpwssd(yo, Z23, zs[4+p])
				}
			}
		},
		func(pairs int, single bool) {
			acc, hi := []int{}, []int{}
			for p := 0; p < pairs; p++ {
				VPADDD(zs[4+p], zs[p], zs[p])
				acc, hi = append(acc, p), append(hi, 4+p)
			}
			n := 2 * pairs
			if single {
				n = 1
			}
			storePairs(acc, hi, n, RDI, R11L, EAX)
		})
	VZEROUPPER()
	RET()
}

// t5b160 decode, AVX2 (also used by the AVX-VNNI tier): VPMULHUW then
// VPMADDWD against the precomputed y, four rows per pass.
func t16DecodeAVX2() {
	ymmPrologue("t16DecodeAVX2", "func(dst *int32, w *byte, stride int, y *int16, blocks int, rows int, xsum int32)",
		"t16DecodeAVX2 writes dst[r] = Σ code·x - xsum for r < rows (t5b160, AVX2); y from t16Prep.")
	Load(Param("xsum"), R11L)
	VMOVDQU(cMaskFF00.Offset(0), Y15)
	rowGroups("t16y", "blocks", 32, 320,
		func() { Load(Param("y"), RBX) },
		func(rows int) { zeroY(0, 1, 2, 3) },
		func(rows int) {
			for r := 0; r < rows; r++ {
				VMOVDQU(rowMem(R14, RDX, R12, r, 0), Y12)
				VPSLLW(U8(8), Y12, ys[4+r])
				VPAND(Y15, Y12, ys[8+r])
			}
			for k := 1; k <= 5; k++ {
				for r := 0; r < rows; r++ {
					VPMULHUW(cPow3[k].Offset(0), ys[4+r], Y12)
					VPMADDWD(Mem{Base: RBX, Disp: 64 * (k - 1)}, Y12, Y12)
					VPADDD(Y12, ys[r], ys[r])
					VPMULHUW(cPow3[k].Offset(0), ys[8+r], Y13)
					VPMADDWD(Mem{Base: RBX, Disp: 64*(k-1) + 32}, Y13, Y13)
					VPADDD(Y13, ys[r], ys[r])
				}
			}
		},
		func(rows int) { storeRowsY(rows, []int{0, 1, 2, 3}, R11L) })
	VZEROUPPER()
	RET()
}

// t5b160 decode, AVX-VNNI: as AVX2, but per digit and row the odd half is
// added by VEX VPDPWSSD onto the even half's VPMADDWD product (five ops
// instead of six), so each product chain is two instructions long and the
// running sum is a chain of one-cycle adds.
func t16DecodeVEXVNNI() {
	ymmPrologue("t16DecodeAVXVNNI", "func(dst *int32, w *byte, stride int, y *int16, blocks int, rows int, xsum int32)",
		"t16DecodeAVXVNNI writes dst[r] = Σ code·x - xsum for r < rows (t5b160, AVX-VNNI); y from t16Prep.")
	Load(Param("xsum"), R11L)
	rowGroups("t16v", "blocks", 32, 320,
		func() { Load(Param("y"), RBX) },
		func(rows int) { zeroY(0, 1, 2, 3) },
		func(rows int) {
			for r := 0; r < rows; r++ {
				VMOVDQU(rowMem(R14, RDX, R12, r, 0), Y12)
				VPSLLW(U8(8), Y12, ys[4+r])
				VPAND(cMaskFF00.Offset(0), Y12, ys[8+r])
			}
			for k := 1; k <= 5; k++ {
				VMOVDQU(Mem{Base: RBX, Disp: 64 * (k - 1)}, Y12)
				VMOVDQU(Mem{Base: RBX, Disp: 64*(k-1) + 32}, Y13)
				for r := 0; r < rows; r++ {
					VPMULHUW(cPow3[k].Offset(0), ys[4+r], Y14)
					VPMADDWD(Y12, Y14, Y14)
					VPMULHUW(cPow3[k].Offset(0), ys[8+r], Y15)
					vexDP(opDPWSSD, Y14, Y15, Y13)
					VPADDD(Y14, ys[r], ys[r])
				}
			}
		},
		func(rows int) { storeRowsY(rows, []int{0, 1, 2, 3}, R11L) })
	VZEROUPPER()
	RET()
}

// ---------------------------------------------------------------------------
// i2b128 prefill: four tokens per pass over the weights. Each weight block
// is unpacked once into four code planes (3 shifts, 4 masks) and used for
// all four tokens.

// tokMem addresses token t (0..3) of the activations at RBX: RBX + t·ldx
// (RCX = ldx, R9 = 3·ldx).
func tokMem(t, disp int) Mem {
	switch t {
	case 0:
		return Mem{Base: RBX, Disp: disp}
	case 1:
		return Mem{Base: RBX, Index: RCX, Scale: 1, Disp: disp}
	case 2:
		return Mem{Base: RBX, Index: RCX, Scale: 2, Disp: disp}
	}
	return Mem{Base: RBX, Index: R9, Scale: 1, Disp: disp}
}

// storeTok stores the eight-dword accumulator y (ymm 0..15) as row `row` of
// token t: dst[t·ldd + row] = sum - xsum[t]. RAX holds ldd·4 bytes.
func storeTok(y, t, row int) {
	hsumY(y, 13, R8L)
	Load(Param("xsum"), R11)
	SUBL(Mem{Base: R11, Disp: 4 * t}, R8L)
	switch t {
	case 0:
		MOVL(R8L, Mem{Base: RDI, Disp: 4 * row})
	case 1:
		MOVL(R8L, Mem{Base: RDI, Index: RAX, Scale: 1, Disp: 4 * row})
	case 2:
		MOVL(R8L, Mem{Base: RDI, Index: RAX, Scale: 2, Disp: 4 * row})
	case 3:
		LEAQ(Mem{Base: RAX, Index: RAX, Scale: 2}, R11)
		MOVL(R8L, Mem{Base: RDI, Index: R11, Scale: 1, Disp: 4 * row})
	}
}

func matMulPrologue(name, doc string) {
	TEXT(name, NOSPLIT, "func(dst *int32, ldd int, w *byte, stride int, rows int, x *int8, ldx int, blocks int, xsum *int32)")
	Pragma("noescape")
	Doc(doc)
	Load(Param("dst"), RDI)
	Load(Param("ldd"), RAX)
	SHLQ(U8(2), RAX)
	Load(Param("w"), RSI)
	Load(Param("stride"), RDX)
	Load(Param("rows"), R10)
	Load(Param("ldx"), RCX)
	LEAQ(Mem{Base: RCX, Index: RCX, Scale: 2}, R9)
	LEAQ(Mem{Base: RDX, Index: RDX, Scale: 2}, R12)
}

// unpack4 splits the codes in zmm/ymm register w into planes (j, j+32,
// j+64, j+96) with mask register m and scratch t.
func unpack4Z(w VecPhysical, planes []VecPhysical, m, t VecPhysical) {
	for k, s := range []int{6, 4, 2} {
		VPSRLW(U8(s), w, t)
		VPANDD(m, t, planes[k])
	}
	VPANDD(m, w, planes[3])
}

func t2MatMulZ() {
	matMulPrologue("t2MatMul4VNNI512", "t2MatMul4VNNI512 computes four tokens of i2b128 prefill (AVX-512 VNNI), two row pairs per pass.")
	VPBROADCASTD(cMask03, Z31)
	for _, g := range []struct {
		pairs  int
		single bool
	}{{2, false}, {1, false}, {1, true}} {
		name := fmt.Sprintf("t2mz_p%d", g.pairs)
		rows := 2 * g.pairs
		if g.single {
			name += "s"
			rows = 1
		}
		Label(name)
		CMPQ(R10, U32(rows))
		JL(LabelRef(name + "_end"))
		for p := 0; p < g.pairs; p++ {
			zeroZ(4*p, 4*p+1, 4*p+2, 4*p+3)
		}
		MOVQ(RSI, R14)
		Load(Param("x"), RBX)
		Load(Param("blocks"), R13)
		TESTQ(R13, R13)
		JZ(LabelRef(name + "_reduce"))
		Label(name + "_loop")
		for p := 0; p < g.pairs; p++ {
			m0 := rowMem(R14, RDX, R12, 2*p, 0)
			var m1 *Mem
			if !g.single {
				m := rowMem(R14, RDX, R12, 2*p+1, 0)
				m1 = &m
			}
			loadPair(20, m0, m1)
			unpack4Z(Z20, zs[8+4*p:12+4*p], Z31, Z21)
		}
		for t := 0; t < 4; t++ {
			for k := 0; k < 4; k++ {
				xk := zs[16+k]
				VBROADCASTI64X4(tokMem(t, 32*k), xk)
				for p := 0; p < g.pairs; p++ {
					vpdpbusd(xk, zs[8+4*p+k], zs[4*p+t])
				}
			}
		}
		ADDQ(U8(32), R14)
		ADDQ(U32(128), RBX)
		DECQ(R13)
		JNZ(LabelRef(name + "_loop"))
		Label(name + "_reduce")
		for p := 0; p < g.pairs; p++ {
			for t := 0; t < 4; t++ {
				acc := 4*p + t
				VEXTRACTI64X4(U8(1), zs[acc], Y14)
				storeTok(acc, t, 2*p)
				if !g.single {
					storeTok(14, t, 2*p+1)
				}
			}
		}
		ADDQ(U32(4*rows), RDI)
		for i := 0; i < rows; i++ {
			ADDQ(RDX, RSI)
		}
		SUBQ(U32(rows), R10)
		if g.single {
			Label(name + "_end")
		} else {
			JMP(LabelRef(name))
			Label(name + "_end")
		}
	}
	VZEROUPPER()
	RET()
}

// AVX2 prefill: one row × four tokens. Each block is unpacked once into
// four code planes at scale 1; per token its four VPMADDUBSW words go into
// an int16 sum over a group of up to t2Group blocks, widened with VPMADDWD
// by ones once per group. With any byte (codes up to 3, see the decode
// bounds) a VPMADDUBSW word is at most 768 in magnitude, a block adds at
// most 4·768 = 3072 and a group at most 12288 (8192 with valid codes).
func t2MatMulAVX2() {
	matMulPrologue("t2MatMul4AVX2", "t2MatMul4AVX2 computes four tokens of i2b128 prefill (AVX2), one row per pass.")
	VPBROADCASTD(cMask03, Y15)
	// Registers: Y0-Y3 the int32 sums of tokens 0-3, Y4-Y7 their int16
	// sums, Y8-Y11 the code planes, Y12-Y14 scratch, Y15 the 0x03 mask.
	name := "t2my"
	Label(name)
	CMPQ(R10, U8(1))
	JL(LabelRef(name + "_end"))
	zeroY(0, 1, 2, 3)
	MOVQ(RSI, R14)
	Load(Param("x"), RBX)
	t2GroupLoop(name, func(b int, first bool) {
		VMOVDQU(Mem{Base: R14, Disp: 32 * b}, Y12)
		for k, s := range []int{6, 4, 2} {
			VPSRLW(U8(s), Y12, Y13)
			VPAND(Y15, Y13, ys[8+k])
		}
		VPAND(Y15, Y12, Y11)
		for t := 0; t < 4; t++ {
			acc := ys[4+t]
			for k := 0; k < 4; k++ {
				if first && k == 0 {
					VPMADDUBSW(tokMem(t, 128*b+32*k), ys[8+k], acc)
					continue
				}
				p := ys[13+k%2]
				VPMADDUBSW(tokMem(t, 128*b+32*k), ys[8+k], p)
				VPADDW(p, acc, acc)
			}
		}
	}, func() {
		for t := 0; t < 4; t++ {
			VPMADDWD(cOnesW.Offset(0), ys[4+t], ys[4+t])
			VPADDD(ys[4+t], ys[t], ys[t])
		}
	})
	Label(name + "_reduce")
	for t := 0; t < 4; t++ {
		storeTok(t, t, 0)
	}
	ADDQ(U8(4), RDI)
	ADDQ(RDX, RSI)
	DECQ(R10)
	JMP(LabelRef(name))
	Label(name + "_end")
	VZEROUPPER()
	RET()
}

// AVX-VNNI prefill: one row × four tokens, two accumulators per token
// (alternating planes) so the dot products' latency overlaps.
func t2MatMulVEXVNNI() {
	matMulPrologue("t2MatMul4AVXVNNI", "t2MatMul4AVXVNNI computes four tokens of i2b128 prefill (AVX-VNNI), one row per pass.")
	VPBROADCASTD(cMask03, Y15)
	name := "t2mv"
	Label(name)
	CMPQ(R10, U8(1))
	JL(LabelRef(name + "_end"))
	zeroY(0, 1, 2, 3, 4, 5, 6, 7)
	MOVQ(RSI, R14)
	Load(Param("x"), RBX)
	Load(Param("blocks"), R13)
	TESTQ(R13, R13)
	JZ(LabelRef(name + "_reduce"))
	Label(name + "_loop")
	VMOVDQU(Mem{Base: R14}, Y12)
	for k, s := range []int{6, 4, 2} {
		VPSRLW(U8(s), Y12, Y13)
		VPAND(Y15, Y13, ys[8+k])
	}
	VPAND(Y15, Y12, Y11)
	for t := 0; t < 4; t++ {
		for k := 0; k < 4; k++ {
			xr := ys[12+k%2]
			VMOVDQU(tokMem(t, 32*k), xr)
			vexDP(opDPBUSD, ys[t+4*(k%2)], ys[8+k], xr)
		}
	}
	ADDQ(U8(32), R14)
	ADDQ(U32(128), RBX)
	DECQ(R13)
	JNZ(LabelRef(name + "_loop"))
	Label(name + "_reduce")
	for t := 0; t < 4; t++ {
		VPADDD(ys[4+t], ys[t], ys[t])
		storeTok(t, t, 0)
	}
	ADDQ(U8(4), RDI)
	ADDQ(RDX, RSI)
	DECQ(R10)
	JMP(LabelRef(name))
	Label(name + "_end")
	VZEROUPPER()
	RET()
}

// ---------------------------------------------------------------------------
// int8 × int8. VNNI multiplies u8 by s8, so weights are biased: (w ^ 0x80)
// is w+128 as u8, and Σ(w+128)·x = Σw·x + 128·Σx; Σx comes from one more
// VPDPBUSD against ones. AVX2 sign-extends both to int16 (VPMOVSXBW) and
// uses VPMADDWD, exact for every int8 pair. The kernels cover steps·64
// (zmm) or steps·32 (ymm) columns; the caller adds the rest.

func i8Prologue(name, doc string) {
	TEXT(name, NOSPLIT, "func(dst *int32, w *int8, stride int, x *int8, steps int, rows int)")
	Pragma("noescape")
	Doc(doc)
	Load(Param("dst"), RDI)
	Load(Param("w"), RSI)
	Load(Param("stride"), RDX)
	Load(Param("rows"), R10)
	LEAQ(Mem{Base: RDX, Index: RDX, Scale: 2}, R12)
}

func i8Z() {
	i8Prologue("i8MatVecVNNI512", "i8MatVecVNNI512 writes dst[r] = Σ w·x over steps·64 columns for r < rows (AVX-512 VNNI).")
	VPBROADCASTD(cSign, Z31)
	VPBROADCASTD(cOnesB, Z30)
	// 128·Σx into R11.
	VPXORD(Z29, Z29, Z29)
	Load(Param("x"), RBX)
	Load(Param("steps"), R13)
	TESTQ(R13, R13)
	JZ(LabelRef("i8z_xs_done"))
	Label("i8z_xs")
	vpdpbusd(Mem{Base: RBX}, Z30, Z29)
	ADDQ(U8(64), RBX)
	DECQ(R13)
	JNZ(LabelRef("i8z_xs"))
	Label("i8z_xs_done")
	VEXTRACTI64X4(U8(1), Z29, Y14)
	VPADDD(Y14, Y29, Y29)
	VMOVDQU64(Y29, Y13)
	hsumY(13, 15, R11L)
	SHLL(U8(7), R11L)
	// Eight streams (eightStreams; rows 0-3 at R14, rows 4-7 at RAX): one
	// zmm accumulator per row, so unlike the 2-bit kernel eight rows cost
	// no extra operations. Unlike the 2-bit kernels it issues no software
	// prefetch: with one load, one VPXORD and one VPDPBUSD per 64 bytes a
	// row, a PREFETCHT0 per line was a third of the loop's instructions,
	// and the hardware streamers keep up with the eight streams alone
	// (128256×2560, twelve interleaved passes a run, median speed against
	// the prefetching loop: 1.01–1.09 in seven runs with 2 threads,
	// 1.04–1.06 in four with 1; prefetching 4 KiB ahead 1.01–1.03, into
	// L2 0.92–0.94).
	eightStreams("i8z_rest")
	Label("i8z_group")
	zeroZ(0, 1, 2, 3, 4, 5, 6, 7)
	MOVQ(RSI, R14)
	LEAQ(Mem{Base: RSI, Index: R8, Scale: 4}, RAX)
	Load(Param("x"), RBX)
	Load(Param("steps"), R13)
	TESTQ(R13, R13)
	JZ(LabelRef("i8z_reduce"))
	Label("i8z_loop")
	VMOVDQU64(Mem{Base: RBX}, Z16)
	for r := 0; r < 8; r++ {
		b := R14
		if r >= 4 {
			b = RAX
		}
		t := zs[20+r]
		VPXORD(quadRow(b, r%4, 0), Z31, t)
		vpdpbusd(Z16, t, zs[r])
	}
	ADDQ(U8(64), R14)
	ADDQ(U8(64), RAX)
	ADDQ(U8(64), RBX)
	DECQ(R13)
	JNZ(LabelRef("i8z_loop"))
	Label("i8z_reduce")
	for r := 0; r < 8; r++ {
		VEXTRACTI64X4(U8(1), zs[r], Y14)
		VPADDD(Y14, ys[r], ys[r])
		hsumY(r, 15, EAX)
		SUBL(R11L, EAX)
		MOVL(EAX, streamOut(r))
	}
	ADDQ(U8(4), RDI)
	ADDQ(RDX, RSI)
	DECQ(R9)
	JNZ(LabelRef("i8z_group"))
	eightStreamsRest()
	Label("i8z_rest")
	TESTQ(R10, R10)
	JZ(LabelRef("i8z_done"))
	Label("i8z_r1")
	zeroZ(0)
	MOVQ(RSI, R14)
	Load(Param("x"), RBX)
	Load(Param("steps"), R13)
	TESTQ(R13, R13)
	JZ(LabelRef("i8z_r1_reduce"))
	Label("i8z_r1_loop")
	VMOVDQU64(Mem{Base: RBX}, Z16)
	VPXORD(Mem{Base: R14}, Z31, Z20)
	vpdpbusd(Z16, Z20, Z0)
	ADDQ(U8(64), R14)
	ADDQ(U8(64), RBX)
	DECQ(R13)
	JNZ(LabelRef("i8z_r1_loop"))
	Label("i8z_r1_reduce")
	VEXTRACTI64X4(U8(1), Z0, Y14)
	VPADDD(Y14, Y0, Y0)
	hsumY(0, 15, EAX)
	SUBL(R11L, EAX)
	MOVL(EAX, Mem{Base: RDI})
	ADDQ(U8(4), RDI)
	ADDQ(RDX, RSI)
	DECQ(R10)
	JNZ(LabelRef("i8z_r1"))
	Label("i8z_done")
	VZEROUPPER()
	RET()
}

func i8AVX2() {
	i8Prologue("i8MatVecAVX2", "i8MatVecAVX2 writes dst[r] = Σ w·x over steps·32 columns for r < rows (AVX2).")
	rowGroups("i8y", "steps", 32, 32,
		func() { Load(Param("x"), RBX) },
		func(rows int) { zeroY(0, 1, 2, 3) },
		func(rows int) {
			VPMOVSXBW(Mem{Base: RBX}, Y8)
			VPMOVSXBW(Mem{Base: RBX, Disp: 16}, Y9)
			for r := 0; r < rows; r++ {
				VPMOVSXBW(rowMem(R14, RDX, R12, r, 0), Y10)
				VPMADDWD(Y8, Y10, Y10)
				VPADDD(Y10, ys[r], ys[r])
				VPMOVSXBW(rowMem(R14, RDX, R12, r, 16), Y11)
				VPMADDWD(Y9, Y11, Y11)
				VPADDD(Y11, ys[r], ys[r])
			}
		},
		func(rows int) { storeRowsY(rows, []int{0, 1, 2, 3}, nil) })
	VZEROUPPER()
	RET()
}

func i8VEXVNNI() {
	i8Prologue("i8MatVecAVXVNNI", "i8MatVecAVXVNNI writes dst[r] = Σ w·x over steps·32 columns for r < rows (AVX-VNNI).")
	VPBROADCASTD(cSign, Y15)
	VPBROADCASTD(cOnesB, Y14)
	VPXOR(Y13, Y13, Y13)
	Load(Param("x"), RBX)
	Load(Param("steps"), R13)
	TESTQ(R13, R13)
	JZ(LabelRef("i8v_xs_done"))
	Label("i8v_xs")
	VMOVDQU(Mem{Base: RBX}, Y12)
	vexDP(opDPBUSD, Y13, Y14, Y12)
	ADDQ(U8(32), RBX)
	DECQ(R13)
	JNZ(LabelRef("i8v_xs"))
	Label("i8v_xs_done")
	hsumY(13, 12, R11L)
	SHLL(U8(7), R11L)
	rowGroups("i8v", "steps", 32, 32,
		func() { Load(Param("x"), RBX) },
		func(rows int) { zeroY(0, 1, 2, 3) },
		func(rows int) {
			VMOVDQU(Mem{Base: RBX}, Y8)
			for r := 0; r < rows; r++ {
				t := ys[9+r%3]
				VPXOR(rowMem(R14, RDX, R12, r, 0), Y15, t)
				vexDP(opDPBUSD, ys[r], t, Y8)
			}
		},
		func(rows int) { storeRowsY(rows, []int{0, 1, 2, 3}, R11L) })
	VZEROUPPER()
	RET()
}

// ---------------------------------------------------------------------------
// Float matrix × float32 vector: output heads stored as f16, bf16 or f32,
// read in place. The summation order is fixed and shared by every tier
// (simd/float16.go): column c of a step of 16 goes to lane c%16, each lane
// accumulates with a fused multiply-add in column order, and the lanes are
// reduced by a tree, l+8, then l+4, then l+2, then l+1. The AVX2 kernel keeps
// lanes 0-7 and 8-15 in two ymm accumulators per row, the AVX-512 kernel in
// one zmm, so both round identically. The kernels cover steps·16 columns;
// the caller adds the rest. f16 widens with VCVTPH2PS (F16C, or AVX-512F for
// zmm), exact for every value; bf16 is the top half of an f32, so it widens
// with a zero extension and a 16-bit shift left.

type floatKind struct {
	name  string // f16, bf16, f32
	wType string // Go type of a weight in the prototype
	bytes int    // bytes per weight
}

var floatKinds = []floatKind{{"f16", "uint16", 2}, {"bf16", "uint16", 2}, {"f32", "float32", 4}}

func floatSig(k floatKind) string {
	return fmt.Sprintf("func(dst *float32, w *%s, stride int, x *float32, steps int, rows int)", k.wType)
}

func floatDoc(name string, k floatKind, tier string) string {
	return fmt.Sprintf("%s writes dst[r] = Σ w·x over steps·16 columns for r < rows (%s weights, stride in bytes, %s).", name, k.name, tier)
}

// widen loads the weights at m as float32 into t (ymm or zmm); for f32 it
// returns m itself, for the multiply-add to read from memory.
func widen(k floatKind, m Mem, t VecPhysical) Op {
	switch k.name {
	case "f16":
		VCVTPH2PS(m, t)
	case "bf16":
		VPMOVZXWD(m, t)
		VPSLLD(U8(16), t, t)
	default:
		return m
	}
	return t
}

// hsumPS reduces the four floats of xmm register xs[i] in the order
// (l, l+2) then (l, l+1) into its low float, after the l+8 and l+4 steps.
// reduce4PS sums the 16 lanes of each of a, b, c and d in the tree order
// of hsumPS after VEXTRACTF64X4/VADDPS (lanes l+8, then l+4, then l+2, then
// l+1 added to lane l), the four sums side by side: 128-bit lane k of Z14
// holds the sum of the k-th register in its element 0. The halves are
// paired across registers by shuffles, so four sums take 9 shuffles and 5
// adds instead of 4·7 operations (clobbers Z15, Z26-Z29).
func reduce4PS(a, b, c, d VecPhysical) {
	// l += l+8: 128-bit lanes 0,1 of a (b) plus lanes 2,3 of a (b).
	VSHUFF32X4(U8(0x44), b, a, Z26) // a.0 a.1 b.0 b.1
	VSHUFF32X4(U8(0xee), b, a, Z27) // a.2 a.3 b.2 b.3
	VADDPS(Z27, Z26, Z26)
	VSHUFF32X4(U8(0x44), d, c, Z28)
	VSHUFF32X4(U8(0xee), d, c, Z29)
	VADDPS(Z29, Z28, Z28)
	// l += l+4: lane 0 of each 8-lane half plus lane 1.
	VSHUFF32X4(U8(0x88), Z28, Z26, Z14) // a' b' c' d', elements 0-3
	VSHUFF32X4(U8(0xdd), Z28, Z26, Z15) // elements 4-7
	VADDPS(Z15, Z14, Z14)
	// l += l+2, then l += l+1, within each 128-bit lane.
	VPERMILPS(U8(0x4e), Z14, Z15)
	VADDPS(Z15, Z14, Z14)
	VPERMILPS(U8(0xb1), Z14, Z15)
	VADDPS(Z15, Z14, Z14)
}

func hsumPS(i int) {
	VEXTRACTF128(U8(1), ys[i], X15)
	VADDPS(X15, xs[i], xs[i])
	VPERMILPS(U8(0x4e), xs[i], X15)
	VADDPS(X15, xs[i], xs[i])
	VPERMILPS(U8(0xb1), xs[i], X15)
	VADDSS(X15, xs[i], xs[i])
}

func floatAVX2(k floatKind) {
	name := k.name + "MatVecAVX2"
	ymmPrologue(name, floatSig(k), floatDoc(name, k, "AVX2, F16C and FMA"))
	floatRowGroups(k.name+"y", "steps", 16*k.bytes, 64,
		func() { Load(Param("x"), RBX) },
		func(rows int) { zeroY(0, 1, 2, 3, 4, 5, 6, 7) },
		func(rows int) {
			VMOVUPS(Mem{Base: RBX}, Y8)
			VMOVUPS(Mem{Base: RBX, Disp: 32}, Y9)
			for r := 0; r < rows; r++ {
				for h := 0; h < 2; h++ {
					w := widen(k, rowMem(R14, RDX, R12, r, 8*k.bytes*h), ys[10+(2*r+h)%4])
					VFMADD231PS(w, ys[8+h], ys[2*r+h])
				}
			}
		},
		func(rows int) {
			for r := 0; r < rows; r++ {
				VADDPS(ys[2*r+1], ys[2*r], ys[2*r])
				hsumPS(2 * r)
				VMOVSS(xs[2*r], rowOut(r))
			}
		})
	VZEROUPPER()
	RET()
}

func floatZ(k floatKind) {
	name := k.name + "MatVecAVX512"
	ymmPrologue(name, floatSig(k), floatDoc(name, k, "AVX-512"))
	// Eight streams as in i8MatVecVNNI512 (one accumulator per row).
	pre := k.name + "z8"
	eightStreams(pre + "_rest")
	Label(pre + "_group")
	zeroZ(0, 1, 2, 3, 4, 5, 6, 7)
	MOVQ(RSI, R14)
	LEAQ(Mem{Base: RSI, Index: R8, Scale: 4}, RAX)
	Load(Param("x"), RBX)
	Load(Param("steps"), R13)
	TESTQ(R13, R13)
	JZ(LabelRef(pre + "_reduce"))
	Label(pre + "_loop")
	VMOVUPS(Mem{Base: RBX}, Z16)
	for r := 0; r < 8; r++ {
		b := R14
		if r >= 4 {
			b = RAX
		}
		PREFETCHT0(quadRow(b, r%4, quadPrefetch))
		w := widen(k, quadRow(b, r%4, 0), zs[20+r])
		VFMADD231PS(w, Z16, zs[r])
	}
	ADDQ(U32(16*k.bytes), R14)
	ADDQ(U32(16*k.bytes), RAX)
	ADDQ(U8(64), RBX)
	DECQ(R13)
	JNZ(LabelRef(pre + "_loop"))
	Label(pre + "_reduce")
	for half := 0; half < 2; half++ {
		reduce4PS(zs[4*half], zs[4*half+1], zs[4*half+2], zs[4*half+3])
		for r := 0; r < 4; r++ {
			x := X14
			if r > 0 {
				VEXTRACTF32X4(U8(r), Z14, X15)
				x = X15
			}
			VMOVSS(x, streamOut(4*half+r))
		}
	}
	ADDQ(U8(4), RDI)
	ADDQ(RDX, RSI)
	DECQ(R9)
	JNZ(LabelRef(pre + "_group"))
	eightStreamsRest()
	Label(pre + "_rest")
	TESTQ(R10, R10)
	JZ(LabelRef(pre + "_done"))
	Label(pre + "_r1")
	zeroZ(0)
	MOVQ(RSI, R14)
	Load(Param("x"), RBX)
	Load(Param("steps"), R13)
	TESTQ(R13, R13)
	JZ(LabelRef(pre + "_r1_reduce"))
	Label(pre + "_r1_loop")
	VMOVUPS(Mem{Base: RBX}, Z16)
	w := widen(k, Mem{Base: R14}, Z20)
	VFMADD231PS(w, Z16, Z0)
	ADDQ(U32(16*k.bytes), R14)
	ADDQ(U8(64), RBX)
	DECQ(R13)
	JNZ(LabelRef(pre + "_r1_loop"))
	Label(pre + "_r1_reduce")
	VEXTRACTF64X4(U8(1), Z0, Y14)
	VADDPS(Y14, Y0, Y0)
	hsumPS(0)
	VMOVSS(X0, Mem{Base: RDI})
	ADDQ(U8(4), RDI)
	ADDQ(RDX, RSI)
	DECQ(R10)
	JNZ(LabelRef(pre + "_r1"))
	Label(pre + "_done")
	VZEROUPPER()
	RET()
}

// f32x4Z is f32MatVecAVX512 for four input vectors at once (the four query
// heads that share one KV head): each weight row is loaded once and
// multiplied into four accumulators. Every (row, input) pair gets exactly
// the arithmetic of f32MatVecAVX512 (the same fused multiply-adds into one
// zmm, the same reduction), so the results equal four calls of it bit for
// bit. Inputs are x + q·ldx, outputs dst + q·ldd (both in bytes), q < 4.
// Accumulator of row r, input q: Z(4r+q) for 4r+q < 14, then Z16, Z17
// (Z14 and Z15 are the reduction's scratch); inputs Z18-Z21; rows Z22-Z25.
func f32x4Z() {
	name := "f32MatVec4AVX512"
	ymmPrologue(name, "func(dst *float32, ldd int, w *float32, stride int, x *float32, ldx int, steps int, rows int)",
		name+" writes dst[q·ldd + r] = Σ w·x[q·ldx:] over steps·16 columns for r < rows, q < 4 (float32, strides in bytes, AVX-512).")
	// reg is the zmm index of the accumulator of row r, input q.
	reg := func(r, q int) int {
		if i := 4*r + q; i < 14 {
			return i
		}
		return 4*r + q + 2
	}
	Load(Param("ldx"), R11)
	LEAQ(Mem{Base: R11, Index: R11, Scale: 2}, RAX)
	floatRowGroups("f32x4z", "steps", 64, 64,
		func() { Load(Param("x"), RBX) },
		func(rows int) {
			for r := 0; r < rows; r++ {
				for q := 0; q < 4; q++ {
					zeroZ(reg(r, q))
				}
			}
		},
		func(rows int) {
			VMOVUPS(Mem{Base: RBX}, Z18)
			VMOVUPS(Mem{Base: RBX, Index: R11, Scale: 1}, Z19)
			VMOVUPS(Mem{Base: RBX, Index: R11, Scale: 2}, Z20)
			VMOVUPS(Mem{Base: RBX, Index: RAX, Scale: 1}, Z21)
			for r := 0; r < rows; r++ {
				VMOVUPS(rowMem(R14, RDX, R12, r, 0), zs[22+r])
				for q := 0; q < 4; q++ {
					VFMADD231PS(zs[22+r], zs[18+q], zs[reg(r, q)])
				}
			}
		},
		func(rows int) {
			Load(Param("ldd"), R13)
			for r := 0; r < rows; r++ {
				LEAQ(rowOut(r), RCX)
				LEAQ(Mem{Base: RCX, Index: R13, Scale: 2}, R14)
				reduce4PS(zs[reg(r, 0)], zs[reg(r, 1)], zs[reg(r, 2)], zs[reg(r, 3)])
				for q := 0; q < 4; q++ {
					out := []Mem{{Base: RCX}, {Base: RCX, Index: R13, Scale: 1}, {Base: R14}, {Base: R14, Index: R13, Scale: 1}}[q]
					x := X14
					if q > 0 {
						VEXTRACTF32X4(U8(q), Z14, X15)
						x = X15
					}
					VMOVSS(x, out)
				}
			}
		})
	VZEROUPPER()
	RET()
}

// ---------------------------------------------------------------------------
// RMSNorm's loops (float.go), on 16 floats at a time, equal to the Go code
// bit for bit: the squares are summed in float64 in eight lanes (element i
// into lane i mod 8, in order; a float32 squared is exact in float64), and
// the scaling is two float32 multiplies, (x·inv)·w.

func normKernels() {
	// RMSNorm's sum of squares and softmax's sum: the same eight lanes.
	for _, square := range []bool{true, false} {
		name, what, l := "sumSquaresAVX512", "x[i]²", "ssq"
		if !square {
			name, what, l = "sumLanesAVX512", "x[i]", "suml"
		}
		TEXT(name, NOSPLIT, "func(x *float32, n int, s *[8]float64)")
		Pragma("noescape")
		Doc(name + " adds " + what + " to s[i mod 8] in float64, in order of i, for i < n, n a multiple of 16 (AVX-512F).")
		Load(Param("x"), RSI)
		Load(Param("n"), RCX)
		Load(Param("s"), RDI)
		VMOVUPD(Mem{Base: RDI}, Z0)
		TESTQ(RCX, RCX)
		JZ(LabelRef(l + "_done"))
		Label(l + "_loop")
		VCVTPS2PD(Mem{Base: RSI}, Z1)
		VCVTPS2PD(Mem{Base: RSI, Disp: 32}, Z2)
		if square {
			VMULPD(Z1, Z1, Z1)
			VMULPD(Z2, Z2, Z2)
		}
		VADDPD(Z1, Z0, Z0)
		VADDPD(Z2, Z0, Z0)
		ADDQ(U8(64), RSI)
		SUBQ(U8(16), RCX)
		JNZ(LabelRef(l + "_loop"))
		Label(l + "_done")
		VMOVUPD(Z0, Mem{Base: RDI})
		VZEROUPPER()
		RET()
	}

	// Softmax's maximum (order does not change a maximum of numbers).
	TEXT("maxAVX512", NOSPLIT, "func(x *float32, n int) float32")
	Pragma("noescape")
	Doc("maxAVX512 returns the largest of x[i], i < n, n a positive multiple of 16, x without NaN (AVX-512F).")
	Load(Param("x"), RSI)
	Load(Param("n"), RCX)
	VMOVUPS(Mem{Base: RSI}, Z0)
	ADDQ(U8(64), RSI)
	SUBQ(U8(16), RCX)
	JZ(LabelRef("max_reduce"))
	Label("max_loop")
	VMAXPS(Mem{Base: RSI}, Z0, Z0)
	ADDQ(U8(64), RSI)
	SUBQ(U8(16), RCX)
	JNZ(LabelRef("max_loop"))
	Label("max_reduce")
	VEXTRACTF64X4(U8(1), Z0, Y1)
	VMAXPS(Y1, Y0, Y0)
	VEXTRACTF128(U8(1), Y0, X1)
	VMAXPS(X1, X0, X0)
	VPERMILPS(U8(0x4e), X0, X1)
	VMAXPS(X1, X0, X0)
	VPERMILPS(U8(0xb1), X0, X1)
	VMAXSS(X1, X0, X0)
	Store(X0, ReturnIndex(0))
	VZEROUPPER()
	RET()

	for _, weighted := range []bool{false, true} {
		name, sig := "scaleAVX512", "func(dst *float32, x *float32, n int, inv float32)"
		if weighted {
			name, sig = "scaleWeightAVX512", "func(dst *float32, x *float32, w *float32, n int, inv float32)"
		}
		TEXT(name, NOSPLIT, sig)
		Pragma("noescape")
		if weighted {
			Doc(name + " sets dst[i] = x[i]·inv·w[i] for i < n, n a multiple of 16 (AVX-512F).")
		} else {
			Doc(name + " sets dst[i] = x[i]·inv for i < n, n a multiple of 16 (AVX-512F).")
		}
		Load(Param("dst"), RDI)
		Load(Param("x"), RSI)
		if weighted {
			Load(Param("w"), RDX)
		}
		Load(Param("n"), RCX)
		Load(Param("inv"), X0)
		VBROADCASTSS(X0, Z0)
		TESTQ(RCX, RCX)
		JZ(LabelRef(name + "_done"))
		Label(name + "_loop")
		VMULPS(Mem{Base: RSI}, Z0, Z1)
		if weighted {
			VMULPS(Mem{Base: RDX}, Z1, Z1)
			ADDQ(U8(64), RDX)
		}
		VMOVUPS(Z1, Mem{Base: RDI})
		ADDQ(U8(64), RSI)
		ADDQ(U8(64), RDI)
		SUBQ(U8(16), RCX)
		JNZ(LabelRef(name + "_loop"))
		Label(name + "_done")
		VZEROUPPER()
		RET()
	}
}

// elementKernels are ReLUSquaredGate's, AddTo's and RoPERotateHalf's loops (float.go) on 16
// lanes, each step the Go loop's float32 operation with the same first
// operand (x86 keeps the first operand's NaN payload), so the same bits.
func elementKernels() {
	TEXT("reluSqGateAVX512", NOSPLIT, "func(dst *float32, gate *float32, up *float32, n int)")
	Pragma("noescape")
	Doc("reluSqGateAVX512 sets dst[i] = r·r·up[i], r = gate[i] with its bits cleared when its sign bit is set, for i < n, n a multiple of 16 (AVX-512F).")
	Load(Param("dst"), RDI)
	Load(Param("gate"), RSI)
	Load(Param("up"), RDX)
	elementLoop("rsg", []Register{RSI, RDX, RDI}, func() {
		VMOVUPS(Mem{Base: RSI}, Z1)
		VPSRAD(U8(31), Z1, Z2)
		VPANDND(Z1, Z2, Z1) // ^sign & g
		VMULPS(Z1, Z1, Z1)
		VMULPS(Mem{Base: RDX}, Z1, Z1)
		VMOVUPS(Z1, Mem{Base: RDI})
	})

	TEXT("addToAVX512", NOSPLIT, "func(dst *float32, x *float32, n int)")
	Pragma("noescape")
	Doc("addToAVX512 sets dst[i] += x[i] for i < n, n a multiple of 16 (AVX-512F).")
	Load(Param("dst"), RDI)
	Load(Param("x"), RSI)
	elementLoop("add", []Register{RSI, RDI}, func() {
		VMOVUPS(Mem{Base: RDI}, Z1)
		VADDPS(Mem{Base: RSI}, Z1, Z1)
		VMOVUPS(Z1, Mem{Base: RDI})
	})

	TEXT("ropeAVX512", NOSPLIT, "func(x *float32, cos *float32, sin *float32, h int, n int)")
	Pragma("noescape")
	Doc("ropeAVX512 sets x[i], x[i+h] = x[i]·cos[i] - x[i+h]·sin[i], x[i+h]·cos[i] + x[i]·sin[i] for i < n, n a multiple of 16 (AVX-512F).")
	Load(Param("x"), RDI)
	Load(Param("cos"), RSI)
	Load(Param("sin"), RDX)
	Load(Param("h"), R8)
	LEAQ(Mem{Base: RDI, Index: R8, Scale: 4}, R8) // x + h
	elementLoop("rope", []Register{RDI, R8, RSI, RDX}, func() {
		VMOVUPS(Mem{Base: RDI}, Z1) // a
		VMOVUPS(Mem{Base: R8}, Z2)  // b
		VMOVUPS(Mem{Base: RSI}, Z3) // cos
		VMOVUPS(Mem{Base: RDX}, Z4) // sin
		VMULPS(Z3, Z1, Z5)          // a·cos
		VMULPS(Z4, Z2, Z6)          // b·sin
		VSUBPS(Z6, Z5, Z5)          // a·cos - b·sin
		VMULPS(Z3, Z2, Z7)          // b·cos
		VMULPS(Z4, Z1, Z8)          // a·sin
		VADDPS(Z8, Z7, Z7)          // b·cos + a·sin
		VMOVUPS(Z5, Mem{Base: RDI})
		VMOVUPS(Z7, Mem{Base: R8})
	})
}

// elementLoop emits the loop of an element kernel over Param("n") floats
// (a multiple of 16): body handles the 16 floats at each of ptrs, which
// then advance by 64 bytes; the kernel returns after it.
func elementLoop(prefix string, ptrs []Register, body func()) {
	elementLoopBy(prefix, 16, ptrs, body, func() {})
}

// elementLoopBy is elementLoop over steps of per floats (n a multiple of
// per), with done emitted after the loop, before the return.
func elementLoopBy(prefix string, per int, ptrs []Register, body, done func()) {
	Load(Param("n"), RCX)
	TESTQ(RCX, RCX)
	JZ(LabelRef(prefix + "_done"))
	Label(prefix + "_loop")
	body()
	imm := func(v int) Op {
		if v < 128 {
			return U8(v)
		}
		return U32(v)
	}
	for _, p := range ptrs {
		ADDQ(imm(4*per), p)
	}
	SUBQ(imm(per), RCX)
	JNZ(LabelRef(prefix + "_loop"))
	Label(prefix + "_done")
	done()
	VZEROUPPER()
	RET()
}

// ---------------------------------------------------------------------------
// expChain names the registers of one Exp32 chain: the argument in z(2),
// temporaries z(3)..z(10), the result in z(11), and four mask registers.
type expChain struct {
	z              func(i int) VecPhysical
	k1, k2, k3, k4 Op
}

// expChains are the two chains the kernels interleave: Z2..Z11 and
// Z13..Z22 (Z12 = 0 for both). The second chain's k4 is the first's k1,
// which is dead by the time k4 is written.
var expChains = []expChain{
	{z: func(i int) VecPhysical { return zs[i] }, k1: K1, k2: K2, k3: K3, k4: K4},
	{z: func(i int) VecPhysical { return zs[i+11] }, k1: K5, k2: K6, k3: K7, k4: K1},
}

// expC are Exp32's constants (float.go), 16 lanes each.
var expC struct {
	log2e, half, c1, c2, one, low, bias, m1, i1 Mem
	p                                           []Mem
}

func expConsts() {
	f := func(name string, v float64) Mem { return dwords64(name, math.Float32bits(float32(v))) }
	n := func(name string, v int32) Mem { return dwords64(name, uint32(v)) }
	expC.log2e, expC.half = f("exp_log2e", 1.44269504088896341), f("exp_half", 0.5)
	expC.c1, expC.c2 = f("exp_c1", 0.693359375), f("exp_c2", -2.12194440e-4)
	expC.p = []Mem{f("exp_p0", 1.9875691500e-4), f("exp_p1", 1.3981999507e-3), f("exp_p2", 8.3334519073e-3),
		f("exp_p3", 4.1665795894e-2), f("exp_p4", 1.6666665459e-1), f("exp_p5", 5.0000001201e-1)}
	expC.one, expC.low = f("exp_one", 1), f("exp_low", -87.3)
	expC.bias, expC.m1, expC.i1 = n("exp_bias", 127), n("exp_m1", -1), n("exp_i1", 1)
}

// eachChain emits f for every chain in turn: one step of all chains
// before the next, so that their dependency chains overlap.
func eachChain(chains []expChain, f func(c expChain)) {
	for _, c := range chains {
		f(c)
	}
}

// expSteps emits z(11) = Exp32(z(2)) for each chain, their steps
// interleaved; Z12 must hold 0.
func expSteps(chains []expChain) {
	each := func(f func(c expChain)) { eachChain(chains, f) }
	cP := expC.p
	each(func(c expChain) { VMULPS(expC.log2e, c.z(2), c.z(3)) })
	each(func(c expChain) { VSUBPS(expC.half, c.z(3), c.z(3)) }) // t = x·log2e - 0.5
	each(func(c expChain) { VCVTTPS2DQ(c.z(3), c.z(4)) })        // n = int32(t)
	each(func(c expChain) { VCVTDQ2PS(c.z(4), c.z(5)) })
	each(func(c expChain) { VCMPPS(U8(1), Z12, c.z(3), c.k1) })          // t < 0
	each(func(c expChain) { VCMPPS(U8(4), c.z(3), c.z(5), c.k1, c.k2) }) // and float32(n) != t
	each(func(c expChain) { VPADDD(expC.m1, c.z(4), c.k2, c.z(4)) })     // n--: floor
	each(func(c expChain) { VPADDD(expC.i1, c.z(4), c.z(4)) })           // n++: round(x·log2e)
	each(func(c expChain) { VCVTDQ2PS(c.z(4), c.z(5)) })                 // fn
	each(func(c expChain) { VMULPS(expC.c1, c.z(5), c.z(6)) })
	each(func(c expChain) { VSUBPS(c.z(6), c.z(2), c.z(7)) }) // r = x - fn·c1
	each(func(c expChain) { VMULPS(expC.c2, c.z(5), c.z(6)) })
	each(func(c expChain) { VSUBPS(c.z(6), c.z(7), c.z(7)) }) // r -= fn·c2
	each(func(c expChain) { VMULPS(c.z(7), c.z(7), c.z(8)) }) // z = r·r
	each(func(c expChain) { VMULPS(cP[0], c.z(7), c.z(9)) })
	each(func(c expChain) { VADDPS(cP[1], c.z(9), c.z(9)) })
	for _, p := range cP[2:] {
		each(func(c expChain) { VMULPS(c.z(7), c.z(9), c.z(9)) })
		each(func(c expChain) { VADDPS(p, c.z(9), c.z(9)) })
	}
	each(func(c expChain) { VMULPS(c.z(8), c.z(9), c.z(9)) })
	each(func(c expChain) { VADDPS(c.z(7), c.z(9), c.z(9)) }) // p·z + r
	each(func(c expChain) { VADDPS(expC.one, c.z(9), c.z(9)) })
	each(func(c expChain) { VPADDD(expC.bias, c.z(4), c.z(10)) })
	each(func(c expChain) { VPSLLD(U8(23), c.z(10), c.z(10)) }) // 2^n
	each(func(c expChain) { VMULPS(c.z(10), c.z(9), c.z(9)) })
	each(func(c expChain) { VCMPPS(U8(13), expC.low, c.z(2), c.k3) }) // x >= -87.3 (false for NaN)
	each(func(c expChain) { VMOVAPS_Z(c.z(9), c.k3, c.z(11)) })       // else 0
	each(func(c expChain) { VCMPPS(U8(3), c.z(2), c.z(2), c.k4) })    // NaN: x itself
	each(func(c expChain) { VMOVAPS(c.z(2), c.k4, c.z(11)) })
}

// expKernel is Exp32((x[i]-m)·scale) (float.go) on 16 lanes, for the
// softmax of attention scores. It must equal the Go code bit for bit: every
// step is the same float32 operation, rounded on its own (no fused
// multiply-add); int32(t) is VCVTTPS2DQ (truncation, as Go's conversion
// compiles on amd64); the floor correction and the range checks are masks.
func expKernel() {
	expConsts()
	// expScaled emits Exp32((v-m)·scale) for the 16 floats at RSI+disp
	// into RDI+disp, for one or two disps, the two chains' steps
	// interleaved; Z0 = m, Z1 = scale.
	expScaled := func(disps ...int) {
		chains := expChains[:len(disps)]
		for i, c := range chains {
			VMOVUPS(Mem{Base: RSI, Disp: disps[i]}, c.z(2))
		}
		eachChain(chains, func(c expChain) { VSUBPS(Z0, c.z(2), c.z(2)) }) // v - m
		eachChain(chains, func(c expChain) { VMULPS(Z1, c.z(2), c.z(2)) }) // x = (v - m)·scale
		expSteps(chains)
		for i, c := range chains {
			VMOVUPS(c.z(11), Mem{Base: RDI, Disp: disps[i]})
		}
	}

	TEXT("expScaledAVX512", NOSPLIT, "func(dst *float32, x *float32, n int, m float32, scale float32)")
	Pragma("noescape")
	Doc("expScaledAVX512 sets dst[i] = Exp32((x[i]-m)·scale) for i < n, n a multiple of 16 (AVX-512F).")
	Load(Param("dst"), RDI)
	Load(Param("x"), RSI)
	Load(Param("n"), RCX)
	// Both loads before the first vector instruction: a legacy-SSE MOVSS
	// (what Load emits) after one leaves the upper halves dirty cost ~230 ns
	// per call here.
	Load(Param("m"), X0)
	Load(Param("scale"), X1)
	VBROADCASTSS(X0, Z0)
	VBROADCASTSS(X1, Z1)
	VXORPS(Z12, Z12, Z12)
	TESTQ(RCX, RCX)
	JZ(LabelRef("exp_done"))
	// Two vectors per step, their dependency chains interleaved (one is
	// ~30 operations long), then a last single vector.
	Label("exp_pair")
	CMPQ(RCX, U8(32))
	JL(LabelRef("exp_single"))
	expScaled(0, 64)
	ADDQ(U32(128), RSI)
	ADDQ(U32(128), RDI)
	SUBQ(U8(32), RCX)
	JMP(LabelRef("exp_pair"))
	Label("exp_single")
	TESTQ(RCX, RCX)
	JZ(LabelRef("exp_done"))
	expScaled(0)
	Label("exp_done")
	VZEROUPPER()
	RET()
}

// ---------------------------------------------------------------------------
// argmaxKernel is Argmax's vector loop (argmax.go): 64 running maxima in
// four zmm, lane l of chain c holding the first largest of the values at
// indices ≡ 16c+l (mod 64), and their indices beside them. VCMPPS with
// GT_OQ is false for a NaN, as Go's > is, so a NaN never replaces a lane's
// value; the caller starts every lane at x[0] and index 0 and combines the
// lanes.
func argmaxKernel() {
	iota := GLOBL("argmax_iota", RODATA|NOPTR)
	for i := 0; i < 64; i++ {
		DATA(4*i, U32(uint32(i)))
	}
	step := dwords64("argmax_step", 64)
	TEXT("argmaxAVX512", NOSPLIT, "func(x *float32, n int, bv *[64]float32, bi *[64]int32)")
	Pragma("noescape")
	Doc("argmaxAVX512 updates the 64 running maxima bv (first of each lane, indices in bi) with x[i] for i < n, n a multiple of 64 (AVX-512F).")
	Load(Param("x"), RSI)
	Load(Param("n"), RCX)
	Load(Param("bv"), RDI)
	Load(Param("bi"), RDX)
	for c := 0; c < 4; c++ {
		VMOVUPS(Mem{Base: RDI, Disp: 64 * c}, zs[c])     // values
		VMOVDQU32(Mem{Base: RDX, Disp: 64 * c}, zs[4+c]) // their indices
		VMOVDQU32(iota.Offset(64*c), zs[8+c])            // this step's indices
	}
	VMOVDQU32(step, Z12)
	ks := []Op{K1, K2, K3, K4}
	elementLoopBy("amax", 64, []Register{RSI}, func() {
		for c := 0; c < 4; c++ {
			VMOVUPS(Mem{Base: RSI, Disp: 64 * c}, zs[16+c])
		}
		for c := 0; c < 4; c++ {
			VCMPPS(U8(0x1e), zs[c], zs[16+c], ks[c]) // x > best (GT_OQ)
		}
		for c := 0; c < 4; c++ {
			VMOVAPS(zs[16+c], ks[c], zs[c])
			VMOVDQA32(zs[8+c], ks[c], zs[4+c])
			VPADDD(Z12, zs[8+c], zs[8+c])
		}
	}, func() {
		for c := 0; c < 4; c++ {
			VMOVUPS(zs[c], Mem{Base: RDI, Disp: 64 * c})
			VMOVDQU32(zs[4+c], Mem{Base: RDX, Disp: 64 * c})
		}
	})
}

// ---------------------------------------------------------------------------
// sigmoidKernels are SiLU's, SiLUGate's and MLGRUStep's loops (float.go) on
// 16 lanes, built on expSteps: e = Exp32(-|x|) (the sign bit set), d = 1+e,
// σ = (x ≥ 0 ? 1 : e)/d and silu = (x ≥ 0 ? x : x·e)/d, NaN lanes set to
// x itself; every later step the Go loop's float32 operation with the same
// first operand, so the same bits. They follow expKernel (its constants).
func sigmoidKernels() {
	sign32 := dwords64("sign32", 0x80000000)
	// xs holds each chain's input (Z23, Z24); extra registers from Z25.
	in := []VecPhysical{Z23, Z24}

	// siluOf emits silu(x) into c.z(5) for each chain, x in in[i].
	siluOf := func(chains []expChain) {
		for i, c := range chains {
			VPORD(sign32, in[i], c.z(2)) // -|x|
		}
		expSteps(chains)
		for i, c := range chains {
			VADDPS(expC.one, c.z(11), c.z(3)) // d = 1+e
			VMULPS(c.z(11), in[i], c.z(4))    // x·e
			VCMPPS(U8(13), Z12, in[i], c.k1)  // x >= 0
			VMOVAPS(in[i], c.k1, c.z(4))      // x there
			VDIVPS(c.z(3), c.z(4), c.z(5))    // /d
			VCMPPS(U8(3), in[i], in[i], c.k2) // NaN: x itself
			VMOVAPS(in[i], c.k2, c.z(5))
		}
	}

	// pairLoop runs body(disps) over RCX floats at RSI (and RDX), storing
	// at RDI: 32 a step with two chains, then 16 with one.
	pairLoop := func(prefix string, ptrs []Register, body func(disps ...int)) {
		TESTQ(RCX, RCX)
		JZ(LabelRef(prefix + "_done"))
		Label(prefix + "_pair")
		CMPQ(RCX, U8(32))
		JL(LabelRef(prefix + "_single"))
		body(0, 64)
		for _, p := range ptrs {
			ADDQ(U32(128), p)
		}
		SUBQ(U8(32), RCX)
		JMP(LabelRef(prefix + "_pair"))
		Label(prefix + "_single")
		TESTQ(RCX, RCX)
		JZ(LabelRef(prefix + "_done"))
		body(0)
		Label(prefix + "_done")
		VZEROUPPER()
		RET()
	}

	for _, gated := range []bool{false, true} {
		name := "siluAVX512"
		if gated {
			TEXT("siluGateAVX512", NOSPLIT, "func(dst *float32, gate *float32, up *float32, n int)")
			Pragma("noescape")
			Doc("siluGateAVX512 sets dst[i] = SiLU32(gate[i])·up[i] for i < n, n a multiple of 16 (AVX-512F).")
			name = "siluGateAVX512"
			Load(Param("up"), RDX)
			Load(Param("gate"), RSI)
		} else {
			TEXT(name, NOSPLIT, "func(dst *float32, x *float32, n int)")
			Pragma("noescape")
			Doc("siluAVX512 sets dst[i] = SiLU32(x[i]) for i < n, n a multiple of 16 (AVX-512F).")
			Load(Param("x"), RSI)
		}
		Load(Param("dst"), RDI)
		Load(Param("n"), RCX)
		VXORPS(Z12, Z12, Z12)
		ptrs := []Register{RSI, RDI}
		if gated {
			ptrs = append(ptrs, RDX)
		}
		pairLoop(name, ptrs, func(disps ...int) {
			chains := expChains[:len(disps)]
			for i := range chains {
				VMOVUPS(Mem{Base: RSI, Disp: disps[i]}, in[i])
			}
			siluOf(chains)
			for i, c := range chains {
				if gated {
					VMULPS(Mem{Base: RDX, Disp: disps[i]}, c.z(5), c.z(5)) // silu·up
				}
				VMOVUPS(c.z(5), Mem{Base: RDI, Disp: disps[i]})
			}
		})
	}

	for _, bounded := range []bool{false, true} {
		name := "mlgruAVX512"
		if bounded {
			name = "mlgruLBAVX512"
			TEXT(name, NOSPLIT, "func(h *float32, ig *float32, fg *float32, lb *float32, n int)")
			Pragma("noescape")
			Doc(name + " sets f = lb[i] + (1-lb[i])·Sigmoid32(fg[i]), h[i] = f·h[i] + SiLU32(ig[i])·(1-f) for i < n, n a multiple of 16 (AVX-512F).")
			Load(Param("lb"), R8)
		} else {
			TEXT(name, NOSPLIT, "func(h *float32, ig *float32, fg *float32, n int)")
			Pragma("noescape")
			Doc(name + " sets f = Sigmoid32(fg[i]), h[i] = f·h[i] + SiLU32(ig[i])·(1-f) for i < n, n a multiple of 16 (AVX-512F).")
		}
		Load(Param("h"), RDI)
		Load(Param("ig"), RSI)
		Load(Param("fg"), RDX)
		VXORPS(Z12, Z12, Z12)
		VMOVUPS(expC.one, Z31)
		ptrs := []Register{RDI, RSI, RDX}
		if bounded {
			ptrs = append(ptrs, R8)
		}
		// Chain 0: σ(fg) into Z5; chain 1: silu(ig) into Z16.
		c0, c1 := expChains[0], expChains[1]
		elementLoop(name, ptrs, func() {
			VMOVUPS(Mem{Base: RDX}, in[0])
			VMOVUPS(Mem{Base: RSI}, in[1])
			VPORD(sign32, in[0], c0.z(2))
			VPORD(sign32, in[1], c1.z(2))
			expSteps(expChains)
			VADDPS(Z31, c0.z(11), c0.z(3))    // d = 1+e
			VMOVAPS(c0.z(11), c0.z(4))        // e
			VCMPPS(U8(13), Z12, in[0], c0.k1) // fg >= 0
			VMOVAPS(Z31, c0.k1, c0.z(4))      // 1 there
			VDIVPS(c0.z(3), c0.z(4), c0.z(5)) // σ = /d
			VCMPPS(U8(3), in[0], in[0], c0.k2)
			VMOVAPS(in[0], c0.k2, c0.z(5))
			VADDPS(Z31, c1.z(11), c1.z(3))
			VMULPS(c1.z(11), in[1], c1.z(4))
			VCMPPS(U8(13), Z12, in[1], c1.k1)
			VMOVAPS(in[1], c1.k1, c1.z(4))
			VDIVPS(c1.z(3), c1.z(4), c1.z(5)) // silu
			VCMPPS(U8(3), in[1], in[1], c1.k2)
			VMOVAPS(in[1], c1.k2, c1.z(5))
			f, si := c0.z(5), c1.z(5)
			if bounded {
				VMOVUPS(Mem{Base: R8}, Z25)
				VSUBPS(Z25, Z31, Z26) // 1 - lb
				VMULPS(f, Z26, Z26)   // ·σ
				VADDPS(Z26, Z25, f)   // lb + …
			}
			VSUBPS(f, Z31, Z27)            // 1 - f
			VMULPS(Z27, si, Z27)           // silu·(1-f)
			VMULPS(Mem{Base: RDI}, f, Z28) // f·h
			VADDPS(Z27, Z28, Z28)          // + c
			VMOVUPS(Z28, Mem{Base: RDI})
		})
	}
}

// ---------------------------------------------------------------------------
// Activation quantization and dequantization (QuantizeActivations and
// Dequantize in quant.go and float.go). Each kernel covers n elements, n a
// positive multiple of 16; the caller does the rest in Go. They must equal
// the Go code bit for bit:
//   - the absmax works on the float bits as integers: |x| clears the sign,
//     a non-negative float orders like its bits, and a value is finite iff
//     its |x| bits are below those of +Inf (NaN and ±Inf are skipped);
//   - q = x·scale is one float32 multiply, clamped to [-128, 127] before the
//     conversion (rounding commutes with clamping to integer bounds), and
//     VCVTPS2DQ rounds half to even under Go's MXCSR; NaN lanes become 0;
//   - dequantization multiplies float32(acc)·s first, then ·inv, as Go does.

func dwords64(name string, v uint32) Mem {
	m := GLOBL(name, RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(4*i, U32(v))
	}
	return m
}

func quantKernels() {
	cAbs := dwords64("absmask32", 0x7fffffff)
	cInf := dwords64("inf32", 0x7f800000)
	c127 := dwords64("f32p127", 0x42fe0000)  // 127.0
	cM128 := dwords64("f32m128", 0xc3000000) // -128.0

	// absmax
	for _, zmm := range []bool{true, false} {
		name, tier := "quantAbsMaxAVX2", "AVX2"
		if zmm {
			name, tier = "quantAbsMaxAVX512", "AVX-512"
		}
		TEXT(name, NOSPLIT, "func(x *float32, n int) uint32")
		Pragma("noescape")
		Doc(name + " returns the bits of max |x[i]| over the finite x[i], i < n (" + tier + ").")
		Load(Param("x"), RSI)
		Load(Param("n"), RCX)
		if zmm {
			zeroZ(0)
			VMOVDQU32(cAbs, Z4)
			VMOVDQU32(cInf, Z5)
			Label(name + "_loop")
			VPANDD(Mem{Base: RSI}, Z4, Z2)
			VPCMPGTD(Z2, Z5, K1)
			VPMAXUD(Z2, Z0, K1, Z0)
			ADDQ(U8(64), RSI)
			SUBQ(U8(16), RCX)
			JNZ(LabelRef(name + "_loop"))
			VEXTRACTI64X4(U8(1), Z0, Y1)
			VPMAXUD(Y1, Y0, Y0)
		} else {
			zeroY(0, 1)
			VMOVDQU(cAbs, Y4)
			VMOVDQU(cInf, Y5)
			Label(name + "_loop")
			for h := 0; h < 2; h++ {
				VPAND(Mem{Base: RSI, Disp: 32 * h}, Y4, ys[2+h])
				VPCMPGTD(ys[2+h], Y5, ys[6+h])
				VPAND(ys[6+h], ys[2+h], ys[2+h])
				VPMAXUD(ys[2+h], ys[h], ys[h])
			}
			ADDQ(U8(64), RSI)
			SUBQ(U8(16), RCX)
			JNZ(LabelRef(name + "_loop"))
			VPMAXUD(Y1, Y0, Y0)
		}
		VEXTRACTI128(U8(1), Y0, X1)
		VPMAXUD(X1, X0, X0)
		VPSHUFD(U8(0x4e), X0, X1)
		VPMAXUD(X1, X0, X0)
		VPSHUFD(U8(0xb1), X0, X1)
		VPMAXUD(X1, X0, X0)
		VMOVD(X0, EAX)
		Store(EAX, ReturnIndex(0))
		VZEROUPPER()
		RET()
	}

	// quantize
	for _, zmm := range []bool{true, false} {
		name, tier := "quantizeAVX2", "AVX2"
		if zmm {
			name, tier = "quantizeAVX512", "AVX-512"
		}
		TEXT(name, NOSPLIT, "func(dst *int8, x *float32, n int, scale float32) int32")
		Pragma("noescape")
		Doc(name + " sets dst[i] = clamp(round-half-even(x[i]·scale)), 0 for NaN, for i < n and returns their sum (" + tier + ").")
		Load(Param("dst"), RDI)
		Load(Param("x"), RSI)
		Load(Param("n"), RCX)
		Load(Param("scale"), X1)
		if zmm {
			VBROADCASTSS(X1, Z1)
			zeroZ(0)
			VMOVUPS(c127, Z3)
			VMOVUPS(cM128, Z4)
			Label(name + "_loop")
			VMULPS(Mem{Base: RSI}, Z1, Z2)
			VCMPPS(U8(7), Z2, Z2, K1) // ordered: not NaN
			VMINPS(Z3, Z2, Z2)
			VMAXPS(Z4, Z2, Z2)
			VCVTPS2DQ_Z(Z2, K1, Z2)
			VPADDD(Z2, Z0, Z0)
			VPMOVSDB(Z2, Mem{Base: RDI})
			ADDQ(U8(64), RSI)
			ADDQ(U8(16), RDI)
			SUBQ(U8(16), RCX)
			JNZ(LabelRef(name + "_loop"))
			VEXTRACTI64X4(U8(1), Z0, Y1)
			VPADDD(Y1, Y0, Y0)
		} else {
			VBROADCASTSS(X1, Y1)
			zeroY(0)
			VMOVUPS(c127, Y4)
			VMOVUPS(cM128, Y5)
			Label(name + "_loop")
			for h := 0; h < 2; h++ {
				VMULPS(Mem{Base: RSI, Disp: 32 * h}, Y1, ys[2+h])
				VCMPPS(U8(7), ys[2+h], ys[2+h], ys[6+h])
				VMINPS(Y4, ys[2+h], ys[2+h])
				VMAXPS(Y5, ys[2+h], ys[2+h])
				VCVTPS2DQ(ys[2+h], ys[2+h])
				VPAND(ys[6+h], ys[2+h], ys[2+h])
				VPADDD(ys[2+h], Y0, Y0)
			}
			// words a0-3 b0-3 | a4-7 b4-7, then qwords reordered to a0-7 b0-7
			VPACKSSDW(Y3, Y2, Y2)
			VPERMQ(U8(0xd8), Y2, Y2)
			VEXTRACTI128(U8(1), Y2, X3)
			VPACKSSWB(X3, X2, X2)
			VMOVDQU(X2, Mem{Base: RDI})
			ADDQ(U8(64), RSI)
			ADDQ(U8(16), RDI)
			SUBQ(U8(16), RCX)
			JNZ(LabelRef(name + "_loop"))
		}
		hsumY(0, 1, EAX)
		Store(EAX, ReturnIndex(0))
		VZEROUPPER()
		RET()
	}

	// dequantize: per-row scales (rows) or one scale
	for _, zmm := range []bool{true, false} {
		for _, rows := range []bool{true, false} {
			tier, sfx := "AVX2", "AVX2"
			if zmm {
				tier, sfx = "AVX-512", "AVX512"
			}
			name, sig, what := "dequantOne"+sfx, "func(dst *float32, acc *int32, n int, s float32, inv float32)", "s"
			if rows {
				name, sig, what = "dequantRows"+sfx, "func(dst *float32, acc *int32, s *float32, n int, inv float32)", "s[i]"
			}
			TEXT(name, NOSPLIT, sig)
			Pragma("noescape")
			Doc(name + " sets dst[i] = float32(acc[i])·" + what + "·inv for i < n (" + tier + ").")
			Load(Param("dst"), RDI)
			Load(Param("acc"), RSI)
			Load(Param("n"), RCX)
			Load(Param("inv"), X0)
			if rows {
				Load(Param("s"), RDX)
			} else {
				Load(Param("s"), X1)
			}
			v := []VecPhysical{Y0, Y1, Y2, Y3}
			width, parts := 32, 2
			if zmm {
				v = []VecPhysical{Z0, Z1, Z2, Z3}
				width, parts = 64, 1
			}
			VBROADCASTSS(X0, v[0])
			if !rows {
				VBROADCASTSS(X1, v[1])
			}
			Label(name + "_loop")
			for h := 0; h < parts; h++ {
				t := v[2+h]
				VCVTDQ2PS(Mem{Base: RSI, Disp: width * h}, t)
				if rows {
					VMULPS(Mem{Base: RDX, Disp: width * h}, t, t)
				} else {
					VMULPS(v[1], t, t)
				}
				VMULPS(v[0], t, t)
				VMOVUPS(t, Mem{Base: RDI, Disp: width * h})
			}
			ADDQ(U8(64), RSI)
			ADDQ(U8(64), RDI)
			if rows {
				ADDQ(U8(64), RDX)
			}
			SUBQ(U8(16), RCX)
			JNZ(LabelRef(name + "_loop"))
			VZEROUPPER()
			RET()
		}
	}
}

// ---------------------------------------------------------------------------
// Streaming reads for the read-bandwidth measurement, with the access
// patterns of the decode kernels: eight concurrent sequential streams with
// a software prefetch 1 KiB ahead, four (the four streams of the decode
// kernels) with one 2.5 KiB ahead, eight with none (the hardware
// prefetchers alone, at times the fastest here) and eight 2 KiB ahead (the
// distance of the eight-stream 2-bit kernel); 64 bytes from each stream per
// iteration. n is a multiple of 512; the streams are the consecutive
// eighths or quarters of the piece. MeasureReadBandwidth keeps the fastest,
// so that no kernel reads faster than the figure it is held against.
func readStream() {
	for _, v := range []struct {
		name     string
		zmm      bool
		streams  int
		prefetch int
	}{{"readStream512", true, 8, 1024}, {"readStream256", false, 8, 1024}, {"readStream512x4", true, 4, 2560}, {"readStream256x4", false, 4, 2560},
		{"readStream512np", true, 8, 0}, {"readStream256np", false, 8, 0}, {"readStream512p2", true, 8, 2048}, {"readStream256p2", false, 8, 2048}} {
		TEXT(v.name, NOSPLIT, "func(p *byte, n int)")
		Pragma("noescape")
		Doc(fmt.Sprintf("%s reads n bytes (a multiple of 512) from p as %d concurrent streams.", v.name, v.streams))
		Load(Param("p"), RSI)
		Load(Param("n"), RCX)
		if v.streams == 8 {
			SHRQ(U8(3), RCX) // stream length
		} else {
			SHRQ(U8(2), RCX)
		}
		LEAQ(Mem{Base: RCX, Index: RCX, Scale: 2}, R12)
		LEAQ(Mem{Base: RSI, Index: RCX, Scale: 4}, R15)
		MOVQ(RSI, R14)
		MOVQ(RCX, R13)
		SHRQ(U8(6), R13)
		JZ(LabelRef(v.name + "_done"))
		if v.zmm {
			zeroZ(0, 1, 2, 3, 4, 5, 6, 7)
		} else {
			zeroY(0, 1, 2, 3, 4, 5, 6, 7)
		}
		Label(v.name + "_loop")
		for i := 0; i < v.streams; i++ {
			b := R14
			if i >= 4 {
				b = R15
			}
			// Software prefetch ahead, as the kernels prefetch their
			// next rows: without it the figure would be the hardware
			// prefetchers' alone and the kernels could beat it.
			if v.prefetch > 0 {
				PREFETCHT0(rowMem(b, RCX, R12, i%4, v.prefetch))
			}
			m := rowMem(b, RCX, R12, i%4, 0)
			if v.zmm {
				VPXORQ(m, zs[i], zs[i])
			} else {
				VPXOR(m, ys[i], ys[i])
				VPXOR(rowMem(b, RCX, R12, i%4, 32), ys[i], ys[i])
			}
		}
		ADDQ(U8(64), R14)
		ADDQ(U8(64), R15)
		DECQ(R13)
		JNZ(LabelRef(v.name + "_loop"))
		Label(v.name + "_done")
		VZEROUPPER()
		RET()
	}
}
