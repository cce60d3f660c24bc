package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The Go assembler (go1.26) knows only the EVEX encodings of VPDPBUSD and
// VPDPWSSD (AVX512_VNNI). Client chips with AVX-VNNI but no AVX-512 (Alder
// Lake and later, Zen 5 client parts) need the VEX encoding, which is emitted
// here as BYTE directives. Intel SDM vol. 2, "VPDPBUSD": VEX.256.66.0F38.W0 50
// /r and "VPDPWSSD": VEX.256.66.0F38.W0 52 /r.

const (
	opDPBUSD = 0x50
	opDPWSSD = 0x52
)

// vexDP256 returns the bytes of the register form
// op ymm(dst), ymm(src1), ymm(src2) (Intel operand order), registers 0..15.
func vexDP256(op byte, dst, src1, src2 int) []byte {
	if dst < 0 || dst > 15 || src1 < 0 || src1 > 15 || src2 < 0 || src2 > 15 {
		panic(fmt.Sprintf("vex: register out of range: %d %d %d", dst, src1, src2))
	}
	inv := func(b int) byte { return byte(^b & 1) }
	// Three-byte VEX: C4, then R̄ X̄ B̄ m-mmmm (0F38 = 00010), then W vvvv̄ L pp
	// (W0, L=1 for 256 bits, pp=01 for the 66 prefix).
	b1 := inv(dst>>3)<<7 | 1<<6 | inv(src2>>3)<<5 | 0x02
	b2 := byte(0)<<7 | byte(^src1&15)<<3 | 1<<2 | 0x01
	modrm := byte(0xC0) | byte(dst&7)<<3 | byte(src2&7)
	return []byte{0xC4, b1, b2, op, modrm}
}

// vexDP emits one VEX dot-product instruction accumulating into acc, with
// u the first source (unsigned bytes for VPDPBUSD) and s the second.
func vexDP(op byte, acc, u, s reg.VecPhysical) {
	name := map[byte]string{opDPBUSD: "VPDPBUSD", opDPWSSD: "VPDPWSSD"}[op]
	Commentf("{vex} %s %s, %s, %s", name, acc.Asm(), u.Asm(), s.Asm())
	for _, b := range vexDP256(op, yIndex(acc), yIndex(u), yIndex(s)) {
		Instruction(&ir.Instruction{Opcode: "BYTE", Operands: []Op{U8(b)}})
	}
}

func yIndex(r reg.VecPhysical) int {
	for i, y := range ys {
		if y == r {
			return i
		}
	}
	panic("vex: not a ymm register 0..15: " + r.Asm())
}

var ys = []reg.VecPhysical{reg.Y0, reg.Y1, reg.Y2, reg.Y3, reg.Y4, reg.Y5, reg.Y6, reg.Y7,
	reg.Y8, reg.Y9, reg.Y10, reg.Y11, reg.Y12, reg.Y13, reg.Y14, reg.Y15}
