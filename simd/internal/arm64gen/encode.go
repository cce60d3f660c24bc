package main

import "fmt"

// Advanced SIMD instructions that the Go arm64 assembler (go1.26) has no
// mnemonic for (see cmd/internal/obj/arm64/anames.go: no SDOT, SMULL, SMLAL,
// SADALP, integer MUL or UHADD). The kernels emit them as WORD directives from
// this one table.
//
// Encodings are from the Arm Architecture Reference Manual for A-profile
// (DDI 0487), section C7.2, "Advanced SIMD three different", "three same" and
// "two-register miscellaneous" classes; each base below is the instruction
// with every register field zero:
//
//	three-same / three-different: base | Rm<<16 | Rn<<5 | Rd
//	two-register miscellaneous:   base | Rn<<5 | Rd
//
// encode_test.go checks every base against bytes taken from a second assembler
// and decodes every emitted word back to its mnemonic and registers.
type simdOp struct {
	name   string // ARM mnemonic as written in the comment after each WORD
	base   uint32
	hasM   bool   // false for the two-register (Rd, Rn) forms
	format string // operand arrangement in ARM syntax, with %d for d, n, m
}

var simdOps = map[string]simdOp{
	// SDOT (vector), FEAT_DotProd: 0 Q=1 0 01110 10 0 Rm 1001 0 1 Rn Rd.
	"SDOT": {"sdot", 0x4E809400, true, "v%d.4s, v%d.16b, v%d.16b"},
	// SMULL, SMULL2 (vector): 0 Q 0 01110 size=00 1 Rm 1100 00 Rn Rd.
	"SMULL":  {"smull", 0x0E20C000, true, "v%d.8h, v%d.8b, v%d.8b"},
	"SMULL2": {"smull2", 0x4E20C000, true, "v%d.8h, v%d.16b, v%d.16b"},
	// SMLAL, SMLAL2 (vector): 0 Q 0 01110 size=00 1 Rm 1000 00 Rn Rd.
	"SMLAL":  {"smlal", 0x0E208000, true, "v%d.8h, v%d.8b, v%d.8b"},
	"SMLAL2": {"smlal2", 0x4E208000, true, "v%d.8h, v%d.16b, v%d.16b"},
	// SADALP: 0 Q=1 0 01110 size=01 10000 00110 10 Rn Rd (.8H pairs into .4S).
	"SADALP": {"sadalp", 0x4E606800, false, "v%d.4s, v%d.8h"},
	// MUL (vector): 0 Q=1 0 01110 size=00 1 Rm 10011 1 Rn Rd (.16B, mod 256).
	"MUL": {"mul", 0x4E209C00, true, "v%d.16b, v%d.16b, v%d.16b"},
	// UHADD: 0 Q=1 1 01110 size=00 1 Rm 00000 1 Rn Rd (.16B, (a+b)>>1 without overflow).
	"UHADD": {"uhadd", 0x6E200400, true, "v%d.16b, v%d.16b, v%d.16b"},
	// FMUL (vector): 0 Q=1 1 01110 0 sz=0 1 Rm 11011 1 Rn Rd (.4S, rounded).
	"FMUL": {"fmul", 0x6E20DC00, true, "v%d.4s, v%d.4s, v%d.4s"},
	// FADD (vector): 0 Q=1 0 01110 0 sz=0 1 Rm 11010 1 Rn Rd (.4S, rounded).
	"FADD": {"fadd", 0x4E20D400, true, "v%d.4s, v%d.4s, v%d.4s"},
	// The float32 helpers (vecKernels): three-same forms with sz=0 (.4S)
	// or sz=1 (.2D) ...
	// FSUB (vector): 0 Q=1 0 01110 1 sz=0 1 Rm 11010 1 Rn Rd.
	"FSUB": {"fsub", 0x4EA0D400, true, "v%d.4s, v%d.4s, v%d.4s"},
	// FDIV (vector): 0 Q=1 1 01110 0 sz=0 1 Rm 11111 1 Rn Rd (correctly rounded).
	"FDIV": {"fdiv", 0x6E20FC00, true, "v%d.4s, v%d.4s, v%d.4s"},
	// FMAX (vector): 0 Q=1 0 01110 0 sz=0 1 Rm 11110 1 Rn Rd.
	"FMAX": {"fmax", 0x4E20F400, true, "v%d.4s, v%d.4s, v%d.4s"},
	// FCMGE, FCMEQ (register): 0 Q=1 U 01110 0 sz=0 1 Rm 11100 1 Rn Rd, U=1 and U=0.
	"FCMGE": {"fcmge", 0x6E20E400, true, "v%d.4s, v%d.4s, v%d.4s"},
	// FCMGT (register): 0 Q=1 1 01110 1 sz=0 1 Rm 11100 1 Rn Rd (false for NaN).
	"FCMGT": {"fcmgt", 0x6EA0E400, true, "v%d.4s, v%d.4s, v%d.4s"},
	"FCMEQ": {"fcmeq", 0x4E20E400, true, "v%d.4s, v%d.4s, v%d.4s"},
	// CMHI (register): 0 Q=1 1 01110 size=10 1 Rm 0011 0 1 Rn Rd (unsigned >).
	"CMHI": {"cmhi", 0x6EA03400, true, "v%d.4s, v%d.4s, v%d.4s"},
	// FMUL, FADD (vector) on .2D: sz=1.
	"FMUL_2D": {"fmul", 0x6E60DC00, true, "v%d.2d, v%d.2d, v%d.2d"},
	"FADD_2D": {"fadd", 0x4E60D400, true, "v%d.2d, v%d.2d, v%d.2d"},
	// ... and two-register miscellaneous forms.
	// CMLT (zero): 0 Q=1 0 01110 size=10 10000 01010 10 Rn Rd (signed < 0).
	"CMLT": {"cmlt", 0x4EA0A800, false, "v%d.4s, v%d.4s, #0"},
	// FCVTNS, FCVTMS (vector): 0 Q=1 0 01110 0 sz=0 10000 1101x 10 Rn Rd
	// (to int32, to nearest with ties to even / toward -∞, saturating).
	"FCVTNS": {"fcvtns", 0x4E21A800, false, "v%d.4s, v%d.4s"},
	"FCVTMS": {"fcvtms", 0x4E21B800, false, "v%d.4s, v%d.4s"},
	// SCVTF (vector, integer): 0 Q=1 0 01110 0 sz=0 10000 11101 10 Rn Rd.
	"SCVTF": {"scvtf", 0x4E21D800, false, "v%d.4s, v%d.4s"},
	// SQXTN, SQXTN2: 0 Q 0 01110 size 10000 10100 10 Rn Rd (signed
	// saturating narrow into the low, Q=0, or the high half, Q=1).
	"SQXTN_4S":  {"sqxtn", 0x0E614800, false, "v%d.4h, v%d.4s"},
	"SQXTN2_4S": {"sqxtn2", 0x4E614800, false, "v%d.8h, v%d.4s"},
	"SQXTN_8H":  {"sqxtn", 0x0E214800, false, "v%d.8b, v%d.8h"},
	"SQXTN2_8H": {"sqxtn2", 0x4E214800, false, "v%d.16b, v%d.8h"},
	// SADDLP: 0 Q=1 0 01110 size=00 10000 00010 10 Rn Rd (.16B pairs into .8H).
	"SADDLP": {"saddlp", 0x4E202800, false, "v%d.8h, v%d.16b"},
	// FCVTL, FCVTL2: 0 Q 0 01110 0 sz=1 10000 10111 10 Rn Rd (the low or
	// high two floats of Rn widened to .2D, exactly).
	"FCVTL":  {"fcvtl", 0x0E617800, false, "v%d.2d, v%d.2s"},
	"FCVTL2": {"fcvtl2", 0x4E617800, false, "v%d.2d, v%d.4s"},
	// The same with sz=0: four binary16 values widened to .4S (exact; a
	// NaN keeps its payload and is made quiet).
	"FCVTL_4H":  {"fcvtl", 0x0E217800, false, "v%d.4s, v%d.4h"},
	"FCVTL2_8H": {"fcvtl2", 0x4E217800, false, "v%d.4s, v%d.8h"},
}

// encode returns the instruction word of op with destination d and sources n
// and m (m is ignored by the two-register forms).
func encode(op string, d, n, m int) uint32 {
	o, ok := simdOps[op]
	if !ok {
		panic("arm64gen: unknown op " + op)
	}
	if d < 0 || d > 31 || n < 0 || n > 31 || m < 0 || m > 31 {
		panic(fmt.Sprintf("arm64gen: %s register out of range: %d %d %d", op, d, n, m))
	}
	w := o.base | uint32(n)<<5 | uint32(d)
	if o.hasM {
		w |= uint32(m) << 16
	}
	return w
}

// asm returns op as a Go assembler WORD directive followed by the ARM
// spelling of the instruction, so the generated file stays readable.
func asm(op string, d, n, m int) string {
	o := simdOps[op]
	text := o.name + "\t"
	if o.hasM {
		text += fmt.Sprintf(o.format, d, n, m)
	} else {
		text += fmt.Sprintf(o.format, d, n)
	}
	return fmt.Sprintf("WORD\t$0x%08x\t// %s", encode(op, d, n, m), text)
}

// decode is the inverse of encode: it finds the op whose base matches w once
// the register fields are masked out. It exists for the tests.
func decode(w uint32) (op string, d, n, m int, ok bool) {
	for name, o := range simdOps {
		mask := ^uint32(0x1F<<5 | 0x1F) // clear Rn, Rd
		if o.hasM {
			mask &^= 0x1F << 16 // and Rm
		}
		if w&mask == o.base {
			m := 0
			if o.hasM {
				m = int(w >> 16 & 0x1F)
			}
			return name, int(w & 0x1F), int(w >> 5 & 0x1F), m, true
		}
	}
	return "", 0, 0, 0, false
}
