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
