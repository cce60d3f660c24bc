// Command arm64gen writes simd/tdot_arm64.s, the NEON and NEON+dotprod
// kernels of the ternary and int8 products, in the spirit of the standard
// library's crypto/internal/fips140/aes/ctr_arm64_gen.go: a text/template for
// the shape of each function, and small Go functions for the instruction
// sequences that repeat per row, per token or per 16-byte lane group.
//
// Usage (from simd/, see the go:generate line in tdot_arm64.go; go generate
// only reads files of the target architecture, hence GOARCH):
//
//	GOARCH=arm64 go generate ./simd
//
// TestGeneratedFile fails when the committed tdot_arm64.s differs from what
// this program writes.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"text/template"
)

// Register plan shared by every kernel (Go ABI0 leaf functions: R0-R15 and
// V0-V31 are free to use; R18 is the platform register, R26-R30 are the
// assembler's and the runtime's).
//
//	R0  args        R1  w (first row of the next group)   R2  stride
//	R3  x           R4  blocks (or 32-byte chunks)         R5  dst
//	R6  rows left   R7  xsum (matvec) or ldx (matmul)
//	R8-R11 row (or token) cursors   R12 x (or w) cursor   R13 block counter
//	R14, R15 scratch
//	V0-V9   activations (matvec) or codes (matmul)
//	V16-V19 int32 accumulators, one per row (or token)
//	V20-V23 int16 accumulators (NEON tier)
//	V24-V28 weights and temporaries
//	V30 xsum per lane, V31 constant (0x03 mask, or 3 for the base-3 digits)

// Byte offsets of the fields of armArgs in tdot_arm64.go; TestArgsLayout
// there checks them against unsafe.Offsetof.
const (
	offW      = 0
	offStride = 8
	offX      = 16
	offN      = 24
	offDst    = 32
	offRows   = 40
	offXsum   = 48 // [4]int32
	offLdx    = 64
	offLdd    = 72
)

// kernel describes one generated function.
type kernel struct {
	Name   string
	Doc    string
	Op     string // "t2", "t16", "i8"
	Dot    bool   // dotprod tier: SDOT straight into int32
	MatMul bool
}

func (k kernel) XRegs() int {
	switch k.Op {
	case "t2":
		return 8 // 128 activations
	case "t16":
		return 10 // 160 activations
	}
	return 2 // 32 int8 activations
}

func (k kernel) WBytes() int { // weight bytes per row per step
	return 32
}

var kernels = []kernel{
	{Name: "matVecT2NEON", Op: "t2", Doc: "i2b128 rows × one token, SMULL/SMLAL into int16, SADALP into int32 each block"},
	{Name: "matVecT2Dot", Op: "t2", Dot: true, Doc: "i2b128 rows × one token, SDOT into int32"},
	{Name: "matVecT16NEON", Op: "t16", Doc: "t5b160 rows × one token, base-3 digits by MUL 3 and UHADD, SMULL/SMLAL, SADALP each block"},
	{Name: "matVecT16Dot", Op: "t16", Dot: true, Doc: "t5b160 rows × one token, base-3 digits by MUL 3 and UHADD, SDOT"},
	{Name: "matVecI8NEON", Op: "i8", Doc: "int8 rows × one token in 32-byte steps, SMULL and SADALP (two int8 products can reach 32768)"},
	{Name: "matVecI8Dot", Op: "i8", Dot: true, Doc: "int8 rows × one token in 32-byte steps, SDOT"},
	{Name: "matMulT2NEON", Op: "t2", MatMul: true, Doc: "i2b128 rows × four tokens: each weight block is decoded once and used for four tokens"},
	{Name: "matMulT2Dot", Op: "t2", Dot: true, MatMul: true, Doc: "i2b128 rows × four tokens with SDOT"},
}

// lines joins instruction lines with the file's indentation.
func lines(ls []string) string {
	return "\t" + strings.Join(ls, "\n\t")
}

func v(r int, arr string) string { return fmt.Sprintf("V%d.%s", r, arr) }

// xLoads loads one step of activations from R12 into V0.. (matvec).
func xLoads(k kernel) string {
	var ls []string
	n := k.XRegs()
	for r := 0; r < n; r += 4 {
		c := min(4, n-r)
		var regs []string
		for i := 0; i < c; i++ {
			regs = append(regs, v(r+i, "B16"))
		}
		ls = append(ls, fmt.Sprintf("VLD1.P\t%d(R12), [%s]", 16*c, strings.Join(regs, ", ")))
	}
	return lines(ls)
}

// mac accumulates the products of the 16 signed bytes of a and b into row
// accumulator acc (int32, V16+acc). In the NEON tier the products go to the
// int16 accumulator V20+acc first; first says whether it starts a fresh sum.
// SMULL/SMLAL take the low 8 bytes, SMULL2/SMLAL2 the high 8: each int16 lane
// gets two products per call.
func mac(k kernel, acc, a, b int, first bool) []string {
	if k.Dot {
		return []string{asm("SDOT", 16+acc, a, b)}
	}
	if first {
		return []string{asm("SMULL", 20+acc, a, b), asm("SMLAL2", 20+acc, a, b)}
	}
	return []string{asm("SMLAL", 20+acc, a, b), asm("SMLAL2", 20+acc, a, b)}
}

// widen folds the int16 accumulator of acc into its int32 accumulator.
func widen(k kernel, acc int) []string {
	if k.Dot {
		return nil
	}
	return []string{asm("SADALP", 16+acc, 20+acc, 0)}
}

// t2Codes turns weight byte vector wreg (bytes 0-15 or 16-31 of a block,
// half h) into the code vector of group g: weights 32g+16h+j, j < 16, are the
// bits at shift 6-2g (layout i2b128, simd/layout.go).
func t2Codes(dst, wreg, g int) []string {
	shift := 6 - 2*g
	if shift == 0 {
		return []string{fmt.Sprintf("VAND\tV31.B16, %s, %s", v(wreg, "B16"), v(dst, "B16"))}
	}
	return []string{
		fmt.Sprintf("VUSHR\t$%d, %s, %s", shift, v(wreg, "B16"), v(dst, "B16")),
		fmt.Sprintf("VAND\tV31.B16, %s, %s", v(dst, "B16"), v(dst, "B16")),
	}
}

// t16Digit turns q = b·3^d mod 256 (in register q) into digit d of each
// byte, in V28: the digit is (q·3)>>8, computed without widening as
// (q + q>>1)>>1 (UHADD) then >>6; the nested floors equal ⌊3q/256⌋ exactly.
// Source: llama.cpp ggml/src/ggml-cpu/arch/arm/quants.c (TQ1_0), and
// compilade.net/blog/ternary-packing.
func t16Digit(q int) []string {
	return []string{
		fmt.Sprintf("VUSHR\t$1, %s, V27.B16", v(q, "B16")),
		asm("UHADD", 27, q, 27),
		"VUSHR\t$6, V27.B16, V28.B16",
	}
}

// rowStep is one step (one block, or 32 int8 columns) of row acc, whose
// weights are at cursor register wptr, against activations V0...
func rowStep(k kernel, acc int, wptr string) string {
	ls := []string{fmt.Sprintf("VLD1.P\t32(%s), [V24.B16, V25.B16]", wptr)}
	first := true
	switch k.Op {
	case "t2":
		for h := 0; h < 2; h++ {
			for g := 0; g < 4; g++ {
				ls = append(ls, t2Codes(26, 24+h, g)...)
				ls = append(ls, mac(k, acc, 26, 2*g+h, first)...)
				first = false
			}
		}
	case "t16":
		// Byte j of half h holds weights 16h+j+32d, d < 5 (layout t5b160).
		for h := 0; h < 2; h++ {
			q := 24 + h // b·3^d mod 256: b itself for d = 0, then V26
			for d := 0; d < 5; d++ {
				if d > 0 {
					ls = append(ls, asm("MUL", 26, q, 31)) // q·3 mod 256
					q = 26
				}
				ls = append(ls, t16Digit(q)...)
				ls = append(ls, mac(k, acc, 28, 2*d+h, first)...)
				first = false
			}
		}
	case "i8":
		for h := 0; h < 2; h++ {
			if k.Dot {
				ls = append(ls, asm("SDOT", 16+acc, 24+h, h))
				continue
			}
			// One SMULL per 8 products, widened at once: two int8
			// products in one int16 lane can reach 2·(-128)² = 32768.
			ls = append(ls,
				asm("SMULL", 20+acc, 24+h, h), asm("SADALP", 16+acc, 20+acc, 0),
				asm("SMULL2", 20+acc, 24+h, h), asm("SADALP", 16+acc, 20+acc, 0))
		}
		return lines(ls)
	}
	// NEON: at most 16 (i2b128) or 20 (t5b160) products of |2·128| per int16
	// lane since the last SADALP, so |sum| ≤ 5120 and int16 cannot overflow.
	ls = append(ls, widen(k, acc)...)
	return lines(ls)
}

// rowsStep is one step of 1 or 4 rows.
func rowsStep(k kernel, rows int) string {
	var parts []string
	for r := 0; r < rows; r++ {
		parts = append(parts, rowStep(k, r, fmt.Sprintf("R%d", 8+r)))
	}
	return strings.Join(parts, "\n")
}

// zero clears the int32 accumulators V16...
func zero(n int) string {
	var ls []string
	for r := 0; r < n; r++ {
		ls = append(ls, fmt.Sprintf("VEOR\t%s, %s, %s", v(16+r, "B16"), v(16+r, "B16"), v(16+r, "B16")))
	}
	return lines(ls)
}

// setup loads the constant register V31.
func setup(k kernel) string {
	switch k.Op {
	case "t2":
		return "\tVMOVI\t$3, V31.B16\t// code mask"
	case "t16":
		return "\tVMOVI\t$3, V31.B16\t// base 3"
	}
	return ""
}

// mmStep is one block of one row for four tokens: the 128 codes are decoded
// once into V0-V7 (V(2g+h) pairs with activations 32g+16h...+15), then each
// token's activations stream through V24-V27.
func mmStep(k kernel) string {
	ls := []string{"VLD1.P\t32(R12), [V24.B16, V25.B16]"}
	for h := 0; h < 2; h++ {
		for g := 0; g < 4; g++ {
			ls = append(ls, t2Codes(2*g+h, 24+h, g)...)
		}
	}
	for t := 0; t < 4; t++ {
		for half := 0; half < 2; half++ {
			ls = append(ls, fmt.Sprintf("VLD1.P\t64(R%d), [V24.B16, V25.B16, V26.B16, V27.B16]", 8+t))
			for i := 0; i < 4; i++ {
				ls = append(ls, mac(k, t, 4*half+i, 24+i, half == 0 && i == 0)...)
			}
		}
		ls = append(ls, widen(k, t)...)
	}
	return lines(ls)
}

const header = `// Code generated by arm64gen (simd/internal/arm64gen). DO NOT EDIT.

//go:build gc && !purego && !noasm

#include "textflag.h"

// Kernels of tdot_arm64.go. Each takes *armArgs and processes all rows of a
// call: four rows at a time sharing the activation loads, then single rows.
// Instructions the Go assembler lacks are WORDs; the comment after each is
// the ARM spelling (encodings: simd/internal/arm64gen/encode.go).
`

const matVecTmpl = `
// func {{.K.Name}}(a *armArgs)
// {{.K.Doc}}.
TEXT ·{{.K.Name}}(SB), NOSPLIT, $0-8
	MOVD	a+0(FP), R0
	MOVD	{{.OffW}}(R0), R1
	MOVD	{{.OffStride}}(R0), R2
	MOVD	{{.OffX}}(R0), R3
	MOVD	{{.OffN}}(R0), R4
	MOVD	{{.OffDst}}(R0), R5
	MOVD	{{.OffRows}}(R0), R6
	MOVW	{{.OffXsum}}(R0), R7
	VDUP	R7, V30.S4
{{.Setup}}
	CMP	$4, R6
	BLT	one

four:
	MOVD	R1, R8
	ADD	R2, R8, R9
	ADD	R2, R9, R10
	ADD	R2, R10, R11
	ADD	R2<<2, R1, R1
	MOVD	R3, R12
	MOVD	R4, R13
{{.Zero4}}
	CBZ	R13, four_done

four_loop:
{{.XLoads}}
{{.Step4}}
	SUB	$1, R13
	CBNZ	R13, four_loop

four_done:
	// V16 = [Σrow0, Σrow1, Σrow2, Σrow3] by pairwise adds.
	VADDP	V17.S4, V16.S4, V16.S4
	VADDP	V19.S4, V18.S4, V18.S4
	VADDP	V18.S4, V16.S4, V16.S4
	VSUB	V30.S4, V16.S4, V16.S4
	VST1.P	[V16.S4], 16(R5)
	SUB	$4, R6
	CMP	$4, R6
	BGE	four

one:
	CBZ	R6, done

one_row:
	MOVD	R1, R8
	ADD	R2, R1
	MOVD	R3, R12
	MOVD	R4, R13
{{.Zero1}}
	CBZ	R13, one_done

one_loop:
{{.XLoads}}
{{.Step1}}
	SUB	$1, R13
	CBNZ	R13, one_loop

one_done:
	VADDV	V16.S4, V16
	VMOV	V16.S[0], R14
	SUBW	R7, R14, R14
	MOVW	R14, (R5)
	ADD	$4, R5
	SUB	$1, R6
	CBNZ	R6, one_row

done:
	RET
`

const matMulTmpl = `
// func {{.K.Name}}(a *armArgs)
// {{.K.Doc}}.
TEXT ·{{.K.Name}}(SB), NOSPLIT, $0-8
	MOVD	a+0(FP), R0
	MOVD	{{.OffW}}(R0), R1
	MOVD	{{.OffStride}}(R0), R2
	MOVD	{{.OffX}}(R0), R3
	MOVD	{{.OffN}}(R0), R4
	MOVD	{{.OffDst}}(R0), R5
	MOVD	{{.OffRows}}(R0), R6
	ADD	${{.OffXsum}}, R0, R14
	VLD1	(R14), [V30.S4]
	MOVD	{{.OffLdx}}(R0), R7
	MOVD	{{.OffLdd}}(R0), R14
{{.Setup}}
	CBZ	R6, done

row:
	MOVD	R1, R12
	ADD	R2, R1
	MOVD	R3, R8
	ADD	R7, R8, R9
	ADD	R7, R9, R10
	ADD	R7, R10, R11
	MOVD	R4, R13
{{.Zero4}}
	CBZ	R13, row_done

loop:
{{.MMStep}}
	SUB	$1, R13
	CBNZ	R13, loop

row_done:
	// V16 = [token0, token1, token2, token3] for this row.
	VADDP	V17.S4, V16.S4, V16.S4
	VADDP	V19.S4, V18.S4, V18.S4
	VADDP	V18.S4, V16.S4, V16.S4
	VSUB	V30.S4, V16.S4, V16.S4
	MOVD	R5, R15
	VMOV	V16.S[0], R13
	MOVW	R13, (R15)
	ADD	R14, R15
	VMOV	V16.S[1], R13
	MOVW	R13, (R15)
	ADD	R14, R15
	VMOV	V16.S[2], R13
	MOVW	R13, (R15)
	ADD	R14, R15
	VMOV	V16.S[3], R13
	MOVW	R13, (R15)
	ADD	$4, R5
	SUB	$1, R6
	CBNZ	R6, row

done:
	RET
`

type tmplData struct {
	K                                         kernel
	OffW, OffStride, OffX, OffN, OffDst       int
	OffRows, OffXsum, OffLdx, OffLdd          int
	Setup, Zero1, Zero4, XLoads, Step1, Step4 string
	MMStep                                    string
}

// generate returns the whole assembly file.
func generate() []byte {
	mv := template.Must(template.New("matvec").Parse(matVecTmpl))
	mm := template.Must(template.New("matmul").Parse(matMulTmpl))
	var buf bytes.Buffer
	buf.WriteString(header)
	for _, k := range kernels {
		d := tmplData{
			K: k, OffW: offW, OffStride: offStride, OffX: offX, OffN: offN, OffDst: offDst,
			OffRows: offRows, OffXsum: offXsum, OffLdx: offLdx, OffLdd: offLdd,
			Setup: setup(k), Zero1: zero(1), Zero4: zero(4),
		}
		t := mv
		if k.MatMul {
			t = mm
			d.MMStep = mmStep(k)
		} else {
			d.XLoads = xLoads(k)
			d.Step1 = rowsStep(k, 1)
			d.Step4 = rowsStep(k, 4)
		}
		if err := t.Execute(&buf, d); err != nil {
			log.Fatal(err)
		}
	}
	buf.WriteString(floatKernels())
	buf.WriteString(vecKernels())
	return buf.Bytes()
}

// floatKernels are the float32 kernels of float_arm64.go: the generic
// tier's arithmetic, each product rounded (FMUL) before it is added (FADD)
// in the same order, four lanes at a time, so their results are generic's
// bit for bit. The Go assembler has FMLA but no vector FMUL or FADD (and
// FMLA would round once, not twice).
func floatKernels() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	op := func(name string, d, n, m int) { w("\t%s", asm(name, d, n, m)) }
	lanesKernel(w, op, "f32")
	wsumKernel(w, op, "f32")
	w(`
// func f32Lanes4NEON(lanes *float32, w *float32, stride uintptr, x *float32, ldx uintptr, steps uintptr, rows uintptr)
// f32LanesNEON for four inputs (ldx bytes apart) at once, each row read
// once: for each row the 16 lane sums of input 0, then of inputs 1, 2, 3
// (64 floats a row), each lane summed as in f32LanesNEON.
TEXT ·f32Lanes4NEON(SB), NOSPLIT, $0-56
	MOVD	lanes+0(FP), R0
	MOVD	w+8(FP), R1
	MOVD	stride+16(FP), R2
	MOVD	x+24(FP), R3
	MOVD	ldx+32(FP), R11
	MOVD	steps+40(FP), R4
	MOVD	rows+48(FP), R5
	CBZ	R5, lanes4_done

lanes4_row:
	MOVD	R1, R6
	MOVD	R3, R7
	ADD	R11, R7, R8
	ADD	R11, R8, R9
	ADD	R11, R9, R10
	MOVD	R4, R12`)
	for i := 0; i < 16; i++ {
		w("\tVEOR\tV%d.B16, V%d.B16, V%d.B16", i, i, i)
	}
	w(`	CBZ	R12, lanes4_store

lanes4_step:
	VLD1.P	64(R6), [V16.S4, V17.S4, V18.S4, V19.S4]`)
	for q := 0; q < 4; q++ {
		w("\tVLD1.P\t64(R%d), [V20.S4, V21.S4, V22.S4, V23.S4]", 7+q)
		for i := 0; i < 4; i++ {
			op("FMUL", 24+i, 16+i, 20+i) // w·x, rounded
		}
		for i := 0; i < 4; i++ {
			op("FADD", 4*q+i, 24+i, 4*q+i) // + lane
		}
	}
	w(`	SUB	$1, R12
	CBNZ	R12, lanes4_step

lanes4_store:
	VST1.P	[V0.S4, V1.S4, V2.S4, V3.S4], 64(R0)
	VST1.P	[V4.S4, V5.S4, V6.S4, V7.S4], 64(R0)
	VST1.P	[V8.S4, V9.S4, V10.S4, V11.S4], 64(R0)
	VST1.P	[V12.S4, V13.S4, V14.S4, V15.S4], 64(R0)
	ADD	R2, R1, R1
	SUB	$1, R5
	CBNZ	R5, lanes4_row

lanes4_done:
	RET`)
	lanesKernel(w, op, "f16")
	lanesKernel(w, op, "bf16")
	wsumKernel(w, op, "f16")
	return b.String()
}

// widen16 emits the widening of the 16 values of kind ("f16" or "bf16")
// in V24, V25 to four .4S in V4-V7: FCVTL for binary16 (exact), and for
// bfloat16 its bits moved up 16 by a ZIP with zeros (V31).
func widen16(w func(string, ...any), op func(string, int, int, int), kind string) {
	for i := 0; i < 2; i++ {
		if kind == "bf16" {
			w("\tVZIP1\tV%d.H8, V31.H8, V%d.H8", 24+i, 4+2*i)
			w("\tVZIP2\tV%d.H8, V31.H8, V%d.H8", 24+i, 5+2*i)
		} else {
			op("FCVTL_4H", 4+2*i, 24+i, 0)
			op("FCVTL2_8H", 5+2*i, 24+i, 0)
		}
	}
}

// lanesKernel emits f32LanesNEON, f16LanesNEON or bf16LanesNEON: for
// each of rows rows (stride bytes apart) the 16 lane sums of the generic
// mat-vec over steps·16 columns, lane c%16 += w[c]·x[c] in order of c,
// into lanes[16·row..]; f16 and bf16 weights are widened exactly first.
func lanesKernel(w func(string, ...any), op func(string, int, int, int), kind string) {
	name, wtype, lbl, wbytes := kind+"LanesNEON", "float32", map[string]string{"f32": "lanes", "f16": "lanesh", "bf16": "lanesb"}[kind], 64
	if kind != "f32" {
		wtype, wbytes = "uint16", 32
	}
	w("\n// func %s(lanes *float32, w *%s, stride uintptr, x *float32, steps uintptr, rows uintptr)", name, wtype)
	if kind == "f32" {
		w(`// For each of rows rows (stride bytes apart) the 16 lane sums of
// GenericMatVecF32 over steps·16 columns: lane c%%16 += w[c]·x[c], in order
// of c, into lanes[16·row..].`)
	} else {
		w("// f32LanesNEON for %s weights, each widened exactly before its product.", map[string]string{"f16": "binary16", "bf16": "bfloat16"}[kind])
	}
	w(`TEXT ·%s(SB), NOSPLIT, $0-48
	MOVD	lanes+0(FP), R0
	MOVD	w+8(FP), R1
	MOVD	stride+16(FP), R2
	MOVD	x+24(FP), R3
	MOVD	steps+32(FP), R4
	MOVD	rows+40(FP), R5`, name)
	if kind == "bf16" {
		w("\tVEOR\tV31.B16, V31.B16, V31.B16")
	}
	w(`	CBZ	R5, %[1]s_done

%[1]s_row:
	MOVD	R1, R6
	MOVD	R3, R7
	MOVD	R4, R8
	VEOR	V0.B16, V0.B16, V0.B16
	VEOR	V1.B16, V1.B16, V1.B16
	VEOR	V2.B16, V2.B16, V2.B16
	VEOR	V3.B16, V3.B16, V3.B16
	CBZ	R8, %[1]s_store

%[1]s_step:`, lbl)
	if kind == "f32" {
		w("\tVLD1.P\t64(R6), [V4.S4, V5.S4, V6.S4, V7.S4]")
	} else {
		w("\tVLD1.P\t%d(R6), [V24.H8, V25.H8]", wbytes)
	}
	w("\tVLD1.P\t64(R7), [V16.S4, V17.S4, V18.S4, V19.S4]")
	if kind != "f32" {
		widen16(w, op, kind)
	}
	for i := 0; i < 4; i++ {
		op("FMUL", 20+i, 4+i, 16+i) // w·x, rounded
	}
	for i := 0; i < 4; i++ {
		op("FADD", i, 20+i, i) // + lane
	}
	w(`	SUB	$1, R8
	CBNZ	R8, %[1]s_step

%[1]s_store:
	VST1.P	[V0.S4, V1.S4, V2.S4, V3.S4], 64(R0)
	ADD	R2, R1, R1
	SUB	$1, R5
	CBNZ	R5, %[1]s_row

%[1]s_done:
	RET`, lbl)
}

// wsumKernel emits f32WsumNEON or f16WsumNEON: one column block of the
// generic weighted sum, out[c] = Σ_p w[p]·blk[16p+c] for c < 16, each
// product rounded and added in order of p from zero (f16 values widened
// exactly first).
func wsumKernel(w func(string, ...any), op func(string, int, int, int), kind string) {
	name, vtype, lbl := kind+"WsumNEON", "float32", "wsum"
	if kind == "f16" {
		vtype, lbl = "uint16", "wsumh"
	}
	w("\n// func %s(out *float32, blk *%s, w *float32, n uintptr)", name, vtype)
	if kind == "f32" {
		w(`// One column block of genericWeightedSumF32: out[c] = Σ_p w[p]·blk[16p+c]
// for c < 16, each product rounded and added in order of p from zero.`)
	} else {
		w("// f32WsumNEON over binary16 values, each widened exactly before its\n// product.")
	}
	w(`TEXT ·%[1]s(SB), NOSPLIT, $0-32
	MOVD	out+0(FP), R0
	MOVD	blk+8(FP), R1
	MOVD	w+16(FP), R2
	MOVD	n+24(FP), R3
	VEOR	V0.B16, V0.B16, V0.B16
	VEOR	V1.B16, V1.B16, V1.B16
	VEOR	V2.B16, V2.B16, V2.B16
	VEOR	V3.B16, V3.B16, V3.B16
	CBZ	R3, %[2]s_store

%[2]s_step:
	VLD1R.P	4(R2), [V20.S4]`, name, lbl)
	if kind == "f32" {
		w("\tVLD1.P\t64(R1), [V4.S4, V5.S4, V6.S4, V7.S4]")
	} else {
		w("\tVLD1.P\t32(R1), [V24.H8, V25.H8]")
		widen16(w, op, kind)
	}
	for i := 0; i < 4; i++ {
		op("FMUL", 16+i, 20, 4+i) // w[p]·v, rounded
	}
	for i := 0; i < 4; i++ {
		op("FADD", i, 16+i, i) // + out
	}
	w(`	SUB	$1, R3
	CBNZ	R3, %[1]s_step

%[1]s_store:
	VST1	[V0.S4, V1.S4, V2.S4, V3.S4], (R0)
	RET`, lbl)
}

func main() {
	out := flag.String("out", "tdot_arm64.s", "output file")
	flag.Parse()
	if err := os.WriteFile(*out, generate(), 0o644); err != nil {
		log.Fatal(err)
	}
}
