package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// ---------------------------------------------------------------------------
// Weighted sums of rows (attention's values) stored in column blocks of 16:
// column c of row p at v[(c/16)·ldb + p·16 + c%16]. dst[q·ldd + c] = Σ_p
// w[q·ldw + p]·v(p, c) for q < nq query vectors, over the whole blocks of 16
// columns (the caller adds the rest). Every column has its own accumulator,
// which takes the products in order of p with a fused multiply-add from
// zero, so the AVX2 kernels (two ymm per block) and the AVX-512 kernels
// (one zmm) give the same bits. A block is one contiguous stream, read once
// for the nq queries; the AVX-512 kernels read four blocks side by side,
// four streams. v is float32 or binary16 (widened by VCVTPH2PS, exact).
// Strides are in bytes.

var wsumQueries = []int{1, 2, 4}

func wsumName(k floatKind, nq int, tier string) string {
	return fmt.Sprintf("%sWeightedSum%d%s", k.name, nq, tier)
}

func wsumPrologue(name string, k floatKind, nq int, tier string) {
	TEXT(name, NOSPLIT, fmt.Sprintf("func(dst *float32, ldd int, v *%s, ldb int, w *float32, ldw int, n int, steps int)", k.wType))
	Pragma("noescape")
	Doc(fmt.Sprintf("%s writes dst[q·ldd + c] = Σ_p w[q·ldw + p]·v[(c/16)·ldb + p·16 + c%%16] for q < %d, c < steps·16, p < n (%s values, fused, in order of p; strides in bytes; %s).", name, nq, k.name, tier))
	Load(Param("dst"), RDI)
	Load(Param("ldd"), R8)
	Load(Param("v"), RSI)
	Load(Param("ldb"), RDX)
	LEAQ(Mem{Base: RDX, Index: RDX, Scale: 2}, R15) // 3·ldb
	Load(Param("w"), RBX)
	Load(Param("ldw"), R11)
	Load(Param("n"), R9)
	Load(Param("steps"), R10)
	LEAQ(Mem{Base: R11, Index: R11, Scale: 2}, RAX) // 3·ldw
	LEAQ(Mem{Base: R8, Index: R8, Scale: 2}, R12)   // 3·ldd
}

// blockMem addresses block b (< 4) of a pass at the current row, plus
// disp: R13 + b·ldb (R15 = 3·ldb). qMem addresses query q's weight from b
// (R11 = ldw, RAX = 3·ldw), qOut its output from b plus disp (R8 = ldd, R12
// = 3·ldd).
func blockMem(b, disp int) Mem         { return rowMem(R13, RDX, R15, b, disp) }
func qMem(b Register, q int) Mem       { return rowMem(b, R11, RAX, q, 0) }
func qOut(b Register, q, disp int) Mem { return rowMem(b, R8, R12, q, disp) }

// wsumBody emits the column-block loops: passes of regs vector registers
// per query and row, each over the n rows, first as many wide passes as
// fit, then passes of one block.
// acc(q, j) is the accumulator of query q, register j; load(j, m) loads
// row data for register j from m into the returned register; bcast(q, m)
// broadcasts query q's weight at m into its register; fma and store as named.
type wsumISA struct {
	lanes   int // floats per register
	wide    int // registers per query in a wide block
	acc     func(q, j int) VecPhysical
	load    func(j int, m Mem) VecPhysical
	bcast   func(q int, m Mem) VecPhysical
	zero    func(r VecPhysical)
	fma     func(b, v, acc VecPhysical)
	store   func(r VecPhysical, m Mem)
	prefix  string
	esize   int // bytes per value
	stepReg int // registers per 16-column step
}

func wsumBody(isa wsumISA, nq int) {
	// R10: steps left; RDI: output block; RSI: value block (row 0).
	block := func(label string, regs int) {
		steps := regs / isa.stepReg
		Label(label + "_block")
		CMPQ(R10, U32(steps))
		JL(LabelRef(label + "_end"))
		for q := 0; q < nq; q++ {
			for j := 0; j < regs; j++ {
				isa.zero(isa.acc(q, j))
			}
		}
		MOVQ(RSI, R13)
		MOVQ(RBX, R14)
		MOVQ(R9, RCX)
		TESTQ(RCX, RCX)
		JZ(LabelRef(label + "_store"))
		Label(label + "_row")
		// Register j reads block j/stepReg of the pass, part j%stepReg;
		// each block's stream prefetches quadPrefetch bytes ahead.
		for b := 0; b < steps; b++ {
			PREFETCHT0(blockMem(b, quadPrefetch))
		}
		vs := make([]VecPhysical, regs)
		for j := 0; j < regs; j++ {
			vs[j] = isa.load(j, blockMem(j/isa.stepReg, j%isa.stepReg*isa.lanes*isa.esize))
		}
		for q := 0; q < nq; q++ {
			b := isa.bcast(q, qMem(R14, q))
			for j := 0; j < regs; j++ {
				isa.fma(b, vs[j], isa.acc(q, j))
			}
		}
		ADDQ(U8(16*isa.esize), R13)
		ADDQ(U8(4), R14)
		DECQ(RCX)
		JNZ(LabelRef(label + "_row"))
		Label(label + "_store")
		for q := 0; q < nq; q++ {
			for j := 0; j < regs; j++ {
				isa.store(isa.acc(q, j), qOut(RDI, q, j*isa.lanes*4))
			}
		}
		ADDQ(U32(regs*isa.lanes*4), RDI)
		for b := 0; b < steps; b++ {
			ADDQ(RDX, RSI)
		}
		SUBQ(U32(steps), R10)
		JMP(LabelRef(label + "_block"))
		Label(label + "_end")
	}
	if isa.wide > isa.stepReg {
		block(isa.prefix+"w", isa.wide)
	}
	block(isa.prefix+"s", isa.stepReg)
}

func wsumKernels() {
	for _, k := range []floatKind{floatKinds[0], floatKinds[2]} { // f16, f32
		for _, nq := range wsumQueries {
			wsumZ(k, nq)
			wsumY(k, nq)
		}
	}
}

// wsumZ: 16 floats per zmm; blocks of four zmm (64 columns) per query:
// accumulators Z0-Z15 (query q, register j: Z(4q+j)), rows Z16-Z19,
// weights Z20-Z23.
func wsumZ(k floatKind, nq int) {
	name := wsumName(k, nq, "AVX512")
	wsumPrologue(name, k, nq, "AVX-512")
	isa := wsumISA{
		lanes: 16, wide: 4, stepReg: 1, esize: k.bytes, prefix: fmt.Sprintf("wsz%s%d", k.name, nq),
		acc: func(q, j int) VecPhysical { return zs[4*q+j] },
		load: func(j int, m Mem) VecPhysical {
			if k.name == "f16" {
				VCVTPH2PS(m, zs[16+j])
			} else {
				VMOVUPS(m, zs[16+j])
			}
			return zs[16+j]
		},
		bcast: func(q int, m Mem) VecPhysical { VBROADCASTSS(m, zs[20+q]); return zs[20+q] },
		zero:  func(r VecPhysical) { VPXORD(r, r, r) },
		fma:   func(b, v, acc VecPhysical) { VFMADD231PS(v, b, acc) },
		store: func(r VecPhysical, m Mem) { VMOVUPS(r, m) },
	}
	wsumBody(isa, nq)
	VZEROUPPER()
	RET()
}

// wsumY: 8 floats per ymm; a step of 16 columns is two ymm per query:
// accumulators Y0-Y7 (query q, register j: Y(2q+j)), rows Y8-Y9, weights
// Y10-Y13. (No wider blocks: sixteen ymm registers.)
func wsumY(k floatKind, nq int) {
	name := wsumName(k, nq, "AVX2")
	wsumPrologue(name, k, nq, "AVX2, F16C and FMA")
	isa := wsumISA{
		lanes: 8, wide: 2, stepReg: 2, esize: k.bytes, prefix: fmt.Sprintf("wsy%s%d", k.name, nq),
		acc: func(q, j int) VecPhysical { return ys[2*q+j] },
		load: func(j int, m Mem) VecPhysical {
			if k.name == "f16" {
				VCVTPH2PS(m, ys[8+j])
			} else {
				VMOVUPS(m, ys[8+j])
			}
			return ys[8+j]
		},
		bcast: func(q int, m Mem) VecPhysical { VBROADCASTSS(m, ys[10+q]); return ys[10+q] },
		zero:  func(r VecPhysical) { VXORPS(r, r, r) },
		fma:   func(b, v, acc VecPhysical) { VFMADD231PS(v, b, acc) },
		store: func(r VecPhysical, m Mem) { VMOVUPS(r, m) },
	}
	wsumBody(isa, nq)
	VZEROUPPER()
	RET()
}
