// Package amxenc encodes the few Intel AMX instructions that package simd
// uses, none of which the Go assembler (go1.26) knows. The hand-written
// simd/amx_amd64.s spells them as BYTE macros; a test here checks every macro
// against this encoder, and the encoder against bytes printed by GNU as.
//
// Encodings are from the Intel 64 and IA-32 Architectures Software
// Developer's Manual, vol. 2, chapter 3 (entries LDTILECFG, TILELOADD,
// TILESTORED, TILEZERO, TILERELEASE, TDPBSSD/TDPBSUD/TDPBUSD/TDPBUUD):
// all are three-byte VEX (C4), map 0F38, W0, L0.
package amxenc

import "fmt"

// General-purpose register numbers as the ModRM/SIB fields use them.
const (
	AX = iota
	CX
	DX
	BX
	SP
	BP
	SI
	DI
	R8
	R9
	R10
	R11
	R12
	R13
	R14
	R15
)

// VEX pp field: the implied legacy prefix.
const (
	ppNone = 0 // NP
	pp66   = 1
	ppF3   = 2
	ppF2   = 3
)

// vex3 returns C4, R̄X̄B̄ m-mmmm (0F38 = 00010), W vvvv̄ L pp with W0 and L0
// (register numbers are inverted in VEX).
func vex3(r, x, b, vvvv, pp int) []byte {
	inv := func(bit int) byte { return byte(^bit & 1) }
	return []byte{
		0xC4,
		inv(r>>3)<<7 | inv(x>>3)<<6 | inv(b>>3)<<5 | 0x02,
		byte(^vvvv&15)<<3 | byte(pp),
	}
}

func checkTile(t int) {
	if t < 0 || t > 7 {
		panic(fmt.Sprintf("amxenc: tile register tmm%d out of range", t))
	}
}

func checkGPR(r int) {
	if r < 0 || r > 15 {
		panic(fmt.Sprintf("amxenc: register %d out of range", r))
	}
}

// LoadConfig is LDTILECFG m512 with the address in base:
// VEX.128.NP.0F38.W0 49 !(11):000:bbb.
func LoadConfig(base int) []byte {
	checkGPR(base)
	if base&7 == BP {
		// mod 00 with rm 101 means RIP-relative; BP and R13 need a displacement.
		panic("amxenc: BP/R13 cannot be a base without displacement")
	}
	out := append(vex3(0, 0, base, 0, ppNone), 0x49, byte(base&7))
	if base&7 == SP {
		out = append(out, 0x24) // SIB: no index, base SP/R12
	}
	return out
}

// Release is TILERELEASE: VEX.128.NP.0F38.W0 49 C0.
func Release() []byte { return append(vex3(0, 0, 0, 0, ppNone), 0x49, 0xC0) }

// Zero is TILEZERO tmm: VEX.128.F2.0F38.W0 49 11:rrr:000.
func Zero(tmm int) []byte {
	checkTile(tmm)
	return append(vex3(0, 0, 0, 0, ppF2), 0x49, 0xC0|byte(tmm)<<3)
}

// sib is the memory form [base + index*1] that the tile loads and stores
// require (the index register holds the row stride in bytes).
func sib(op byte, pp, tmm, base, index int) []byte {
	checkTile(tmm)
	checkGPR(base)
	checkGPR(index)
	if index == SP {
		panic("amxenc: SP cannot be an index")
	}
	if base&7 == BP {
		panic("amxenc: BP/R13 cannot be a base without displacement")
	}
	out := append(vex3(0, index, base, 0, pp), op)
	return append(out, byte(tmm)<<3|0x04, byte(index&7)<<3|byte(base&7))
}

// Load is TILELOADD tmm, [base+index*1]: VEX.128.F2.0F38.W0 4B !(11):rrr:100.
// Row i of the tile is read from base + i*index.
func Load(tmm, base, index int) []byte { return sib(0x4B, ppF2, tmm, base, index) }

// Store is TILESTORED [base+index*1], tmm: VEX.128.F3.0F38.W0 4B !(11):rrr:100.
func Store(base, index, tmm int) []byte { return sib(0x4B, ppF3, tmm, base, index) }

// Dot product kinds: the first letter is the signedness of the bytes of the
// first source tile (A, ModRM.rm), the second that of the second (B,
// VEX.vvvv).
const (
	SS = ppF2 // TDPBSSD
	SU = ppF3 // TDPBSUD
	US = pp66 // TDPBUSD
	UU = ppNone
)

// Dot is TDPB[SU][SU]D dst, a, b (VEX.128.pp.0F38.W0 5E 11:rrr:bbb, vvvv =
// b): dst[m][n] += Σ_k a[m][4k+i]·b[k][4n+i] over the four bytes i of each
// dword, in int32.
func Dot(kind, dst, a, b int) []byte {
	checkTile(dst)
	checkTile(a)
	checkTile(b)
	if kind < 0 || kind > 3 {
		panic(fmt.Sprintf("amxenc: dot kind %d", kind))
	}
	return append(vex3(0, 0, 0, b, kind), 0x5E, 0xC0|byte(dst)<<3|byte(a))
}
