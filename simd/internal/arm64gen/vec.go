package main

import (
	"fmt"
	"math"
	"strings"
)

// vecKernels are the NEON forms of the element loops of float.go and
// quant.go (float_arm64.go calls them): activation quantization and
// dequantization, RMSNorm's sums and scaling, the softmax's maximum,
// exponentials and sum, the residual add, ReLU²·up and rotate-half RoPE.
// Each takes n elements, n a multiple of 16, as four .4S vectors a step,
// and performs the Go loop's float operations one by one (FMUL, FADD,
// FSUB: each rounded on its own, never FMLA), in the same order and with
// the Go expression's left operand as Rn (where two NaNs meet, AArch64
// keeps the first operand's), so that the results are the Go loops' bit
// for bit.
func vecKernels() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	op := func(name string, d, n, m int) { w("\t%s", asm(name, d, n, m)) }
	op2 := func(name string, d, n int) { w("\t%s", asm(name, d, n, 0)) }
	// dup broadcasts a float32 constant (by its bits) or an int32 into
	// every lane of V<r>, through R15.
	dupBits := func(r int, bits uint32) {
		w("\tMOVW\t$0x%08x, R15", bits)
		w("\tVDUP\tR15, V%d.S4", r)
	}
	dupF := func(r int, f float64) { dupBits(r, math.Float32bits(float32(f))) }
	// loop closes a loop over R<cnt> elements, 16 a step.
	loop := func(label string, cnt int) {
		w("\tSUBS\t$16, R%d, R%d", cnt, cnt)
		w("\tBNE\t%s", label)
	}
	quad := func(base int) string {
		return fmt.Sprintf("[V%d.S4, V%d.S4, V%d.S4, V%d.S4]", base, base+1, base+2, base+3)
	}

	// Exp32 on two chains of four lanes, their steps interleaved: each
	// chain's argument in y, the result in a; b, c, d are scratch. The
	// constants live in V2-V16 (expConsts).
	type chain struct{ y, a, b, c, d int }
	chains := []chain{{17, 18, 19, 20, 21}, {22, 23, 24, 25, 26}}
	each := func(f func(c chain)) {
		for _, c := range chains {
			f(c)
		}
	}
	expConsts := func() {
		dupF(2, 1.44269504088896341) // log2e
		dupF(3, 0.5)
		dupF(4, 0.693359375)    // c1
		dupF(5, -2.12194440e-4) // c2
		for i, p := range []float64{1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1} {
			dupF(6+i, p)
		}
		dupF(12, 1)
		dupF(13, -87.3)
		dupBits(14, 1)
		dupBits(15, 127)
		w("\tVEOR\tV16.B16, V16.B16, V16.B16")
	}
	expChains := func() {
		each(func(c chain) { op("FMUL", c.a, c.y, 2) }) // x·log2e
		each(func(c chain) { op("FSUB", c.a, c.a, 3) }) // t = x·log2e - 0.5
		each(func(c chain) { op2("FCVTMS", c.a, c.a) }) // floor(t)
		each(func(c chain) { w("\tVADD\tV14.S4, V%d.S4, V%d.S4", c.a, c.a) })
		each(func(c chain) { op2("SCVTF", c.b, c.a) }) // fn
		each(func(c chain) { w("\tVADD\tV15.S4, V%d.S4, V%d.S4", c.a, c.a) })
		each(func(c chain) { w("\tVSHL\t$23, V%d.S4, V%d.S4", c.a, c.a) }) // 2^n
		each(func(c chain) { op("FMUL", c.c, c.b, 4) })
		each(func(c chain) { op("FSUB", c.d, c.y, c.c) }) // r = x - fn·c1
		each(func(c chain) { op("FMUL", c.c, c.b, 5) })
		each(func(c chain) { op("FSUB", c.d, c.d, c.c) }) // r -= fn·c2
		each(func(c chain) { op("FMUL", c.b, c.d, c.d) }) // z = r·r
		each(func(c chain) { op("FMUL", c.c, 6, c.d) })
		each(func(c chain) { op("FADD", c.c, c.c, 7) })
		for p := 8; p <= 11; p++ {
			each(func(c chain) { op("FMUL", c.c, c.c, c.d) })
			each(func(c chain) { op("FADD", c.c, c.c, p) })
		}
		each(func(c chain) { op("FMUL", c.c, c.c, c.b) })                             // p·z
		each(func(c chain) { op("FADD", c.c, c.c, c.d) })                             // + r
		each(func(c chain) { op("FADD", c.c, c.c, 12) })                              // + 1
		each(func(c chain) { op("FMUL", c.c, c.c, c.a) })                             // ·2^n
		each(func(c chain) { op("FCMGE", c.a, c.y, 13) })                             // x >= -87.3 (false for NaN)
		each(func(c chain) { op("FCMEQ", c.b, c.y, c.y) })                            // not NaN
		each(func(c chain) { w("\tVBSL\tV%d.B16, V16.B16, V%d.B16", c.y, c.b) })      // not NaN ? 0 : x
		each(func(c chain) { w("\tVBSL\tV%d.B16, V%d.B16, V%d.B16", c.b, c.c, c.a) }) // in range ? e^x : that
	}

	w(`
// The element loops of float_arm64.go (see vecKernels in the generator):
// n is a multiple of 16 in each.

// func quantAbsMaxNEON(x *float32, n int) uint32
// The bits of max |x[i]| over the finite x[i] (0 if none): the sign bit
// cleared, lanes not below +Inf's bits (Inf, NaN) zeroed, then an
// unsigned maximum, which orders non-negative floats as their values.
TEXT ·quantAbsMaxNEON(SB), NOSPLIT, $0-20
	MOVD	x+0(FP), R0
	MOVD	n+8(FP), R1
	VEOR	V0.B16, V0.B16, V0.B16
	VEOR	V1.B16, V1.B16, V1.B16
	VEOR	V2.B16, V2.B16, V2.B16
	VEOR	V3.B16, V3.B16, V3.B16
	MOVW	$0x7fffffff, R15
	VDUP	R15, V30.S4
	MOVW	$0x7f800000, R15
	VDUP	R15, V31.S4
	CBZ	R1, absmax_reduce

absmax_loop:
	VLD1.P	64(R0), ` + quad(4))
	for i := 0; i < 4; i++ {
		w("\tVAND\tV30.B16, V%d.B16, V%d.B16", 4+i, 4+i)
		op("CMHI", 8+i, 31, 4+i) // +Inf > |x|: finite
		w("\tVAND\tV%d.B16, V%d.B16, V%d.B16", 8+i, 4+i, 4+i)
		w("\tVUMAX\tV%d.S4, V%d.S4, V%d.S4", 4+i, i, i)
	}
	loop("absmax_loop", 1)
	w(`
absmax_reduce:
	VUMAX	V1.S4, V0.S4, V0.S4
	VUMAX	V3.S4, V2.S4, V2.S4
	VUMAX	V2.S4, V0.S4, V0.S4
	VEXT	$8, V0.B16, V0.B16, V1.B16
	VUMAX	V1.S4, V0.S4, V0.S4
	VEXT	$4, V0.B16, V0.B16, V1.B16
	VUMAX	V1.S4, V0.S4, V0.S4
	VMOV	V0.S[0], R2
	MOVW	R2, ret+16(FP)
	RET

// func quantizeNEON(dst *int8, x *float32, n int, scale float32) int32
// dst[i] = the code of x[i]·scale (FCVTNS: to nearest, ties to even,
// saturating, NaN to 0; two saturating narrowings clamp to [-128, 127]),
// returning the sum of the codes.
TEXT ·quantizeNEON(SB), NOSPLIT, $0-36
	MOVD	dst+0(FP), R0
	MOVD	x+8(FP), R1
	MOVD	n+16(FP), R2
	FMOVS	scale+24(FP), F31
	VDUP	V31.S[0], V31.S4
	VEOR	V30.B16, V30.B16, V30.B16
	CBZ	R2, quant_done

quant_loop:
	VLD1.P	64(R1), ` + quad(0))
	for i := 0; i < 4; i++ {
		op("FMUL", i, i, 31) // x·scale
	}
	for i := 0; i < 4; i++ {
		op2("FCVTNS", i, i)
	}
	op2("SQXTN_4S", 4, 0)
	op2("SQXTN2_4S", 4, 1)
	op2("SQXTN_4S", 5, 2)
	op2("SQXTN2_4S", 5, 3)
	op2("SQXTN_8H", 6, 4)
	op2("SQXTN2_8H", 6, 5)
	w("\tVST1.P\t[V6.B16], 16(R0)")
	op2("SADDLP", 7, 6)
	op2("SADALP", 30, 7)
	loop("quant_loop", 2)
	w(`
quant_done:
	VADDV	V30.S4, V30
	VMOV	V30.S[0], R3
	MOVW	R3, ret+32(FP)
	RET`)

	// Dequantization: float32(acc)·s·inv.
	for _, rows := range []bool{true, false} {
		name, sig, frame := "dequantOneNEON", "dst *float32, acc *int32, n int, s float32, inv float32", 32
		if rows {
			name, sig, frame = "dequantRowsNEON", "dst *float32, acc *int32, s *float32, n int, inv float32", 36
		}
		w("\n// func %s(%s)", name, sig)
		w("TEXT ·%s(SB), NOSPLIT, $0-%d", name, frame)
		w("\tMOVD\tdst+0(FP), R0")
		w("\tMOVD\tacc+8(FP), R1")
		lbl := strings.TrimSuffix(name, "NEON")
		if rows {
			w("\tMOVD\ts+16(FP), R2")
			w("\tMOVD\tn+24(FP), R3")
			w("\tFMOVS\tinv+32(FP), F30")
		} else {
			w("\tMOVD\tn+16(FP), R3")
			w("\tFMOVS\ts+24(FP), F31")
			w("\tVDUP\tV31.S[0], V31.S4")
			w("\tFMOVS\tinv+28(FP), F30")
		}
		w("\tVDUP\tV30.S[0], V30.S4")
		w("\tCBZ\tR3, %s_done\n\n%s_loop:", lbl, lbl)
		w("\tVLD1.P\t64(R1), %s", quad(0))
		if rows {
			w("\tVLD1.P\t64(R2), %s", quad(4))
		}
		for i := 0; i < 4; i++ {
			op2("SCVTF", i, i)
		}
		for i := 0; i < 4; i++ {
			if rows {
				op("FMUL", i, i, 4+i)
			} else {
				op("FMUL", i, i, 31)
			}
		}
		for i := 0; i < 4; i++ {
			op("FMUL", i, i, 30)
		}
		w("\tVST1.P\t%s, 64(R0)", quad(0))
		loop(lbl+"_loop", 3)
		w("\n%s_done:\n\tRET", lbl)
	}

	// Sums in eight float64 lanes: element i into lane i mod 8.
	for _, square := range []bool{true, false} {
		name, lbl := "sumSquaresNEON", "ssq"
		if !square {
			name, lbl = "sumLanesNEON", "suml"
		}
		w(`
// func %s(x *float32, n int, s *[8]float64)
TEXT ·%s(SB), NOSPLIT, $0-24
	MOVD	x+0(FP), R0
	MOVD	n+8(FP), R1
	MOVD	s+16(FP), R2
	VLD1	(R2), [V0.D2, V1.D2, V2.D2, V3.D2]
	CBZ	R1, %s_done

%s_loop:
	VLD1.P	64(R0), `+quad(4), name, name, lbl, lbl)
		for half := 0; half < 2; half++ {
			for l := 0; l < 4; l++ {
				src := 4 + 2*half + l/2
				if l%2 == 0 {
					op2("FCVTL", 8+l, src)
				} else {
					op2("FCVTL2", 8+l, src)
				}
			}
			if square {
				for l := 0; l < 4; l++ {
					op("FMUL_2D", 8+l, 8+l, 8+l)
				}
			}
			for l := 0; l < 4; l++ {
				op("FADD_2D", l, l, 8+l) // s[l] + v
			}
		}
		loop(lbl+"_loop", 1)
		w(`
%s_done:
	VST1	[V0.D2, V1.D2, V2.D2, V3.D2], (R2)
	RET`, lbl)
	}

	w(`
// func maxNEON(x *float32, n int) float32
// The largest x[i] (x without NaN, n > 0).
TEXT ·maxNEON(SB), NOSPLIT, $0-20
	MOVD	x+0(FP), R0
	MOVD	n+8(FP), R1
	VLD1.P	64(R0), ` + quad(0) + `
	SUBS	$16, R1, R1
	BEQ	max_reduce

max_loop:
	VLD1.P	64(R0), ` + quad(4))
	for i := 0; i < 4; i++ {
		op("FMAX", i, i, 4+i)
	}
	loop("max_loop", 1)
	w("\nmax_reduce:")
	op("FMAX", 0, 0, 1)
	op("FMAX", 2, 2, 3)
	op("FMAX", 0, 0, 2)
	w("\tVEXT\t$8, V0.B16, V0.B16, V1.B16")
	op("FMAX", 0, 0, 1)
	w("\tVEXT\t$4, V0.B16, V0.B16, V1.B16")
	op("FMAX", 0, 0, 1)
	w("\tFMOVS\tF0, ret+16(FP)\n\tRET")

	// Exp32((x-m)·scale): Cephes' expf as Exp32 in float.go, two chains
	// of four lanes side by side; constants in V0-V16.
	w(`
// func expScaledNEON(dst *float32, x *float32, n int, m float32, scale float32)
// dst[i] = Exp32((x[i]-m)·scale), the steps of Exp32 one by one; the floor
// of t is FCVTMS (Exp32 truncates and corrects: the same integer).
TEXT ·expScaledNEON(SB), NOSPLIT, $0-32
	MOVD	dst+0(FP), R0
	MOVD	x+8(FP), R1
	MOVD	n+16(FP), R2
	FMOVS	m+24(FP), F0
	FMOVS	scale+28(FP), F1
	VDUP	V0.S[0], V0.S4
	VDUP	V1.S[0], V1.S4`)
	expConsts()
	w("\tCBZ\tR2, exp_done\n\nexp_loop:")
	for half := 0; half < 2; half++ {
		each(func(c chain) { w("\tVLD1.P\t16(R1), [V%d.S4]", c.y) })
		each(func(c chain) { op("FSUB", c.y, c.y, 0) }) // x - m
		each(func(c chain) { op("FMUL", c.y, c.y, 1) }) // ·scale
		expChains()
		each(func(c chain) { w("\tVST1.P\t[V%d.S4], 16(R0)", c.a) })
	}
	loop("exp_loop", 2)
	w("\nexp_done:\n\tRET")

	for _, weighted := range []bool{false, true} {
		name, sig, frame, lbl := "scaleNEON", "dst *float32, x *float32, n int, inv float32", 28, "scale"
		if weighted {
			name, sig, frame, lbl = "scaleWeightNEON", "dst *float32, x *float32, w *float32, n int, inv float32", 36, "scalew"
		}
		w("\n// func %s(%s)", name, sig)
		w("TEXT ·%s(SB), NOSPLIT, $0-%d", name, frame)
		w("\tMOVD\tdst+0(FP), R0\n\tMOVD\tx+8(FP), R1")
		if weighted {
			w("\tMOVD\tw+16(FP), R2\n\tMOVD\tn+24(FP), R3\n\tFMOVS\tinv+32(FP), F31")
		} else {
			w("\tMOVD\tn+16(FP), R3\n\tFMOVS\tinv+24(FP), F31")
		}
		w("\tVDUP\tV31.S[0], V31.S4\n\tCBZ\tR3, %s_done\n\n%s_loop:", lbl, lbl)
		w("\tVLD1.P\t64(R1), %s", quad(0))
		if weighted {
			w("\tVLD1.P\t64(R2), %s", quad(4))
		}
		for i := 0; i < 4; i++ {
			op("FMUL", i, i, 31) // x·inv
		}
		if weighted {
			for i := 0; i < 4; i++ {
				op("FMUL", i, i, 4+i) // ·w
			}
		}
		w("\tVST1.P\t%s, 64(R0)", quad(0))
		loop(lbl+"_loop", 3)
		w("\n%s_done:\n\tRET", lbl)
	}

	w(`
// func reluSqGateNEON(dst *float32, gate *float32, up *float32, n int)
// dst[i] = r·r·up[i], r = gate[i] with its bits cleared when its sign bit
// is set.
TEXT ·reluSqGateNEON(SB), NOSPLIT, $0-32
	MOVD	dst+0(FP), R0
	MOVD	gate+8(FP), R1
	MOVD	up+16(FP), R2
	MOVD	n+24(FP), R3
	VEOR	V16.B16, V16.B16, V16.B16
	CBZ	R3, rsg_done

rsg_loop:
	VLD1.P	64(R1), ` + quad(0) + `
	VLD1.P	64(R2), ` + quad(4))
	for i := 0; i < 4; i++ {
		op2("CMLT", 8+i, i)
		w("\tVBSL\tV%d.B16, V16.B16, V%d.B16", i, 8+i) // sign ? 0 : g
	}
	for i := 0; i < 4; i++ {
		op("FMUL", 8+i, 8+i, 8+i) // r·r
	}
	for i := 0; i < 4; i++ {
		// up first: the Go loop compiled for arm64 (go1.26) multiplies
		// up[i]·(r·r), and where both are NaN the first one's payload
		// is kept (TestElementwiseVector).
		op("FMUL", 8+i, 4+i, 8+i)
	}
	w("\tVST1.P\t%s, 64(R0)", quad(8))
	loop("rsg_loop", 3)
	w(`
rsg_done:
	RET

// func addToNEON(dst *float32, x *float32, n int)
// dst[i] += x[i].
TEXT ·addToNEON(SB), NOSPLIT, $0-24
	MOVD	dst+0(FP), R0
	MOVD	x+8(FP), R1
	MOVD	n+16(FP), R2
	CBZ	R2, add_done

add_loop:
	VLD1	(R0), ` + quad(0) + `
	VLD1.P	64(R1), ` + quad(4))
	for i := 0; i < 4; i++ {
		op("FADD", i, i, 4+i)
	}
	w("\tVST1.P\t%s, 64(R0)", quad(0))
	loop("add_loop", 2)
	w(`
add_done:
	RET

// func ropeNEON(x *float32, cos *float32, sin *float32, h int, n int)
// x[i], x[i+h] = x[i]·cos[i] - x[i+h]·sin[i], x[i+h]·cos[i] + x[i]·sin[i].
TEXT ·ropeNEON(SB), NOSPLIT, $0-40
	MOVD	x+0(FP), R0
	MOVD	cos+8(FP), R1
	MOVD	sin+16(FP), R2
	MOVD	h+24(FP), R3
	MOVD	n+32(FP), R4
	ADD	R3<<2, R0, R3
	CBZ	R4, rope_done

rope_loop:
	VLD1	(R0), ` + quad(0) + `
	VLD1	(R3), ` + quad(4) + `
	VLD1.P	64(R1), ` + quad(8) + `
	VLD1.P	64(R2), ` + quad(12))
	for i := 0; i < 4; i++ {
		a, bb, c, s := i, 4+i, 8+i, 12+i
		op("FMUL", 16+i, a, c)  // a·cos
		op("FMUL", 20+i, bb, s) // b·sin
		op("FSUB", 16+i, 16+i, 20+i)
		op("FMUL", 24+i, bb, c) // b·cos
		op("FMUL", 20+i, a, s)  // a·sin
		op("FADD", 24+i, 24+i, 20+i)
	}
	w("\tVST1.P\t%s, 64(R0)", quad(16))
	w("\tVST1.P\t%s, 64(R3)", quad(24))
	loop("rope_loop", 4)
	w(`
rope_done:
	RET`)

	// Sigmoid32 and SiLU32 (float.go) on the exp chains: e = Exp32(-|x|),
	// d = 1+e, then (x ≥ 0 ? 1 : e)/d or (x ≥ 0 ? x : x·e)/d, and x itself
	// for a NaN x. V0 holds the sign bit of every lane; x stays in V27
	// (chain 0) and V28 (chain 1).
	xs := []int{27, 28}
	// sigmoidChains leaves in each chain's d the SiLU32 (silu[i]) or the
	// Sigmoid32 of its x.
	sigmoidChains := func(silu ...bool) {
		for i, c := range chains {
			w("\tVORR\tV0.B16, V%d.B16, V%d.B16", xs[i], c.y) // -|x|
		}
		expChains()
		for i, c := range chains {
			x := xs[i]
			op("FADD", c.b, 12, c.a) // d = 1+e
			if silu[i] {
				op("FMUL", c.c, x, c.a)                             // x·e
				op("FCMGE", c.d, x, 16)                             // x >= 0
				w("\tVBSL\tV%d.B16, V%d.B16, V%d.B16", c.c, x, c.d) // x there
			} else {
				op("FCMGE", c.d, x, 16)
				w("\tVBSL\tV%d.B16, V12.B16, V%d.B16", c.a, c.d) // 1 there, else e
			}
			op("FDIV", c.c, c.d, c.b)                           // /d
			op("FCMEQ", c.d, x, x)                              // not NaN
			w("\tVBSL\tV%d.B16, V%d.B16, V%d.B16", x, c.c, c.d) // else x: the result in d
		}
	}
	sigmoidSetup := func() {
		expConsts()
		dupBits(0, 0x80000000)
	}
	// The SiLU loops take two chains of one vector each, eight floats a
	// step.
	for _, gated := range []bool{false, true} {
		lbl := "silu"
		if gated {
			lbl = "silug"
			w(`
// func siluGateNEON(dst *float32, gate *float32, up *float32, n int)
// dst[i] = SiLU32(gate[i])·up[i].
TEXT ·siluGateNEON(SB), NOSPLIT, $0-32
	MOVD	dst+0(FP), R0
	MOVD	gate+8(FP), R1
	MOVD	up+16(FP), R3
	MOVD	n+24(FP), R2`)
		} else {
			w(`
// func siluNEON(dst *float32, x *float32, n int)
// dst[i] = SiLU32(x[i]).
TEXT ·siluNEON(SB), NOSPLIT, $0-24
	MOVD	dst+0(FP), R0
	MOVD	x+8(FP), R1
	MOVD	n+16(FP), R2`)
		}
		sigmoidSetup()
		w("\tCBZ\tR2, %s_done\n\n%s_loop:", lbl, lbl)
		for half := 0; half < 2; half++ {
			w("\tVLD1.P\t32(R1), [V27.S4, V28.S4]")
			sigmoidChains(true, true)
			if gated {
				w("\tVLD1.P\t32(R3), [V29.S4, V30.S4]")
				for i, c := range chains {
					op("FMUL", c.d, c.d, 29+i) // silu·up
				}
			}
			for _, c := range chains {
				w("\tVST1.P\t[V%d.S4], 16(R0)", c.d)
			}
		}
		w("\tSUBS\t$16, R2, R2\n\tBNE\t%s_loop\n\n%s_done:\n\tRET", lbl, lbl)
	}

	// MLGRUStep: chain 0 takes σ(fg), chain 1 silu(ig), four lanes a step.
	for _, bounded := range []bool{false, true} {
		name, lbl, sig, frame := "mlgruNEON", "mlgru", "h *float32, ig *float32, fg *float32, n int", 32
		if bounded {
			name, lbl, sig, frame = "mlgruLBNEON", "mlgrulb", "h *float32, ig *float32, fg *float32, lb *float32, n int", 40
		}
		w("\n// func %s(%s)", name, sig)
		w("// f = Sigmoid32(fg[i]) (raised to lb[i] + (1-lb[i])·f with bounds), h[i] = f·h[i] + SiLU32(ig[i])·(1-f).")
		w("TEXT ·%s(SB), NOSPLIT, $0-%d", name, frame)
		w("\tMOVD\th+0(FP), R0\n\tMOVD\tig+8(FP), R1\n\tMOVD\tfg+16(FP), R3")
		if bounded {
			w("\tMOVD\tlb+24(FP), R4\n\tMOVD\tn+32(FP), R2")
		} else {
			w("\tMOVD\tn+24(FP), R2")
		}
		sigmoidSetup()
		w("\tCBZ\tR2, %s_done\n\n%s_loop:", lbl, lbl)
		w("\tVLD1.P\t16(R3), [V27.S4]") // fg
		w("\tVLD1.P\t16(R1), [V28.S4]") // ig
		sigmoidChains(false, true)      // σ(fg), silu(ig)
		f, si := chains[0].d, chains[1].d
		if bounded {
			w("\tVLD1.P\t16(R4), [V29.S4]") // lb
			op("FSUB", 30, 12, 29)          // 1 - lb
			op("FMUL", 30, 30, f)           // ·σ
			op("FADD", f, 29, 30)           // lb + …
		}
		w("\tVLD1\t(R0), [V29.S4]") // h
		op("FSUB", 30, 12, f)       // 1 - f
		op("FMUL", 30, si, 30)      // silu·(1-f)
		op("FMUL", 31, f, 29)       // f·h
		op("FADD", 31, 31, 30)      // + c
		w("\tVST1.P\t[V31.S4], 16(R0)")
		w("\tSUBS\t$4, R2, R2\n\tBNE\t%s_loop\n\n%s_done:\n\tRET", lbl, lbl)
	}
	// Argmax's 64 running maxima, in four passes of 16 lanes (lane l of
	// pass g holds the values at i ≡ 16g+l mod 64): FCMGT is false for a
	// NaN and for equal values, as Go's > is, so a lane keeps the first of
	// its largest values and a NaN never replaces one.
	w(`
// func argmaxNEON(x *float32, n int, bv *[64]float32, bi *[64]int32)
// Updates the running maxima bv (indices in bi) with x[i], i < n, n a
// multiple of 64.
TEXT ·argmaxNEON(SB), NOSPLIT, $0-32
	MOVD	x+0(FP), R0
	MOVD	n+8(FP), R1
	MOVD	bv+16(FP), R2
	MOVD	bi+24(FP), R3
	LSR	$6, R1, R1
	CBZ	R1, amax_done
	MOVW	$64, R15
	VDUP	R15, V12.S4
	MOVW	$0, R6

amax_pass:
	VLD1	(R2), ` + quad(0) + `
	VLD1	(R3), ` + quad(4))
	for i := 0; i < 4; i++ { // lane indices 16g+4i .. +3
		w("\tADD\t$%d, R6, R7", 4*i)
		for l := 0; l < 4; l++ {
			w("\tVMOV\tR7, V%d.S[%d]", 8+i, l)
			if l < 3 {
				w("\tADD\t$1, R7, R7")
			}
		}
	}
	w(`	MOVD	R0, R8
	MOVD	R1, R9

amax_loop:
	VLD1	(R8), ` + quad(16) + `
	ADD	$256, R8`)
	for i := 0; i < 4; i++ {
		op("FCMGT", 20+i, 16+i, i) // x > bv
	}
	for i := 0; i < 4; i++ {
		w("\tVBIT\tV%d.B16, V%d.B16, V%d.B16", 20+i, 16+i, i)  // bv = x there
		w("\tVBIT\tV%d.B16, V%d.B16, V%d.B16", 20+i, 8+i, 4+i) // bi = i there
		w("\tVADD\tV12.S4, V%d.S4, V%d.S4", 8+i, 8+i)
	}
	w(`	SUBS	$1, R9, R9
	BNE	amax_loop
	VST1.P	` + quad(0) + `, 64(R2)
	VST1.P	` + quad(4) + `, 64(R3)
	ADD	$64, R0
	ADD	$16, R6
	CMP	$64, R6
	BNE	amax_pass

amax_done:
	RET`)
	readStreamKernels(w)
	return b.String()
}

// readStreamKernels emits the read loops of MeasureReadBandwidth on arm64:
// eight concurrent sequential streams of 64-byte NEON loads, with software
// prefetch 1 KiB ahead (as the amd64 loops prefetch) and without.
func readStreamKernels(w func(string, ...any)) {
	ptrs := []int{0, 4, 5, 6, 7, 8, 9, 10} // stream s reads from R<ptrs[s]>
	for _, prefetch := range []bool{true, false} {
		name, lbl := "readStreamNEON", "rs"
		if !prefetch {
			name, lbl = "readStreamNEONnp", "rsnp"
		}
		w(`
// func %s(p *byte, n int)
// Reads n bytes (a multiple of 512) from p as eight concurrent streams.
TEXT ·%s(SB), NOSPLIT, $0-16
	MOVD	p+0(FP), R0
	MOVD	n+8(FP), R1
	LSR	$3, R1, R2
	LSR	$6, R2, R3
	CBZ	R3, %s_done`, name, name, lbl)
		for i := 1; i < 8; i++ {
			w("\tADD\tR2, R%d, R%d", ptrs[i-1], ptrs[i])
		}
		w("\tVEOR\tV0.B16, V0.B16, V0.B16\n\n%s_loop:", lbl)
		for _, r := range ptrs {
			if prefetch {
				w("\tPRFM\t1024(R%d), PLDL1KEEP", r)
			}
			w("\tVLD1.P\t64(R%d), [V4.B16, V5.B16, V6.B16, V7.B16]", r)
			for i := 4; i < 8; i++ {
				w("\tVEOR\tV%d.B16, V0.B16, V0.B16", i)
			}
		}
		w("\tSUBS\t$1, R3, R3\n\tBNE\t%s_loop\n\n%s_done:\n\tRET", lbl, lbl)
	}
}
