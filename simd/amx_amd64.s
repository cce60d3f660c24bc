// Hand-written: avo cannot emit AMX, and the Go assembler (go1.26) knows no
// AMX mnemonic, so the tile instructions below are BYTE macros produced by
// simd/internal/amxenc, whose test checks every macro against the encoder and
// the encoder against GNU as. Keep this file small; the AVX-512 parts are
// plain Go assembler.

//go:build linux && gc && !purego && !noasm

#include "textflag.h"

// Offsets in amxArgs (amx_amd64.go; TestAMXArgsLayout checks them).
#define amxCfg 0
#define amxW 8
#define amxStride 16
#define amxGroups 24
#define amxBlocks 32
#define amxB 40
#define amxNtiles 48
#define amxNxs 56
#define amxDst 64
#define amxLdd 72
#define amxNtok 80
#define amxA 88
#define amxC 96
#define amxWCur 104
#define amxDstCur 112

// Tile registers: tmm0-tmm3 accumulate C (16 weight rows × 16 tokens, int32)
// for up to four token tiles, tmm4/tmm5 hold A (16 weight rows × 64 codes)
// for the even and odd 64-weight half of a block, tmm6/tmm7 hold B (16
// dwords × 16 tokens: four activations per dword, "VNNI layout") for even
// and odd token tiles.

// The AMX instructions, each under its Intel-syntax form (Intel SDM vol. 2;
// amxenc's TestMacros re-encodes every one, TestDisassemble has objdump
// decode them).
// ldtilecfg [rdi]
#define LDTILECFG_DI BYTE $0xc4; BYTE $0xe2; BYTE $0x78; BYTE $0x49; BYTE $0x07
// tilerelease
#define TILERELEASE BYTE $0xc4; BYTE $0xe2; BYTE $0x78; BYTE $0x49; BYTE $0xc0
// tileloadd tmm0, [rdi+r12*1]
#define TLOAD_C0_DI_R12 BYTE $0xc4; BYTE $0xa2; BYTE $0x7b; BYTE $0x4b; BYTE $0x04; BYTE $0x27
// tileloadd tmm1, [rdi+r12*1]
#define TLOAD_C1_DI_R12 BYTE $0xc4; BYTE $0xa2; BYTE $0x7b; BYTE $0x4b; BYTE $0x0c; BYTE $0x27
// tileloadd tmm2, [rdi+r12*1]
#define TLOAD_C2_DI_R12 BYTE $0xc4; BYTE $0xa2; BYTE $0x7b; BYTE $0x4b; BYTE $0x14; BYTE $0x27
// tileloadd tmm3, [rdi+r12*1]
#define TLOAD_C3_DI_R12 BYTE $0xc4; BYTE $0xa2; BYTE $0x7b; BYTE $0x4b; BYTE $0x1c; BYTE $0x27
// tileloadd tmm4, [r11+r10*1]
#define TLOAD_A4_R11_R10 BYTE $0xc4; BYTE $0x82; BYTE $0x7b; BYTE $0x4b; BYTE $0x24; BYTE $0x13
// tileloadd tmm5, [rdi+r10*1]
#define TLOAD_A5_DI_R10 BYTE $0xc4; BYTE $0xa2; BYTE $0x7b; BYTE $0x4b; BYTE $0x2c; BYTE $0x17
// tileloadd tmm6, [rsi+r10*1]
#define TLOAD_B6_SI_R10 BYTE $0xc4; BYTE $0xa2; BYTE $0x7b; BYTE $0x4b; BYTE $0x34; BYTE $0x16
// tileloadd tmm7, [rsi+r10*1]
#define TLOAD_B7_SI_R10 BYTE $0xc4; BYTE $0xa2; BYTE $0x7b; BYTE $0x4b; BYTE $0x3c; BYTE $0x16
// tdpbusd tmm0, tmm4, tmm6
#define TDPBUSD_C0_A4_B6 BYTE $0xc4; BYTE $0xe2; BYTE $0x49; BYTE $0x5e; BYTE $0xc4
// tdpbusd tmm1, tmm4, tmm7
#define TDPBUSD_C1_A4_B7 BYTE $0xc4; BYTE $0xe2; BYTE $0x41; BYTE $0x5e; BYTE $0xcc
// tdpbusd tmm2, tmm4, tmm6
#define TDPBUSD_C2_A4_B6 BYTE $0xc4; BYTE $0xe2; BYTE $0x49; BYTE $0x5e; BYTE $0xd4
// tdpbusd tmm3, tmm4, tmm7
#define TDPBUSD_C3_A4_B7 BYTE $0xc4; BYTE $0xe2; BYTE $0x41; BYTE $0x5e; BYTE $0xdc
// tdpbusd tmm0, tmm5, tmm6
#define TDPBUSD_C0_A5_B6 BYTE $0xc4; BYTE $0xe2; BYTE $0x49; BYTE $0x5e; BYTE $0xc5
// tdpbusd tmm1, tmm5, tmm7
#define TDPBUSD_C1_A5_B7 BYTE $0xc4; BYTE $0xe2; BYTE $0x41; BYTE $0x5e; BYTE $0xcd
// tdpbusd tmm2, tmm5, tmm6
#define TDPBUSD_C2_A5_B6 BYTE $0xc4; BYTE $0xe2; BYTE $0x49; BYTE $0x5e; BYTE $0xd5
// tdpbusd tmm3, tmm5, tmm7
#define TDPBUSD_C3_A5_B7 BYTE $0xc4; BYTE $0xe2; BYTE $0x41; BYTE $0x5e; BYTE $0xdd
// tilestored [rdi+r10*1], tmm0
#define TSTORE_DI_R10_C0 BYTE $0xc4; BYTE $0xa2; BYTE $0x7a; BYTE $0x4b; BYTE $0x04; BYTE $0x17
// tilestored [rdi+r10*1], tmm1
#define TSTORE_DI_R10_C1 BYTE $0xc4; BYTE $0xa2; BYTE $0x7a; BYTE $0x4b; BYTE $0x0c; BYTE $0x17
// tilestored [rdi+r10*1], tmm2
#define TSTORE_DI_R10_C2 BYTE $0xc4; BYTE $0xa2; BYTE $0x7a; BYTE $0x4b; BYTE $0x14; BYTE $0x17
// tilestored [rdi+r10*1], tmm3
#define TSTORE_DI_R10_C3 BYTE $0xc4; BYTE $0xa2; BYTE $0x7a; BYTE $0x4b; BYTE $0x1c; BYTE $0x17
// tilezero tmm2
#define TZERO_C2 BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xd0
// tilezero tmm3
#define TZERO_C3 BYTE $0xc4; BYTE $0xe2; BYTE $0x7b; BYTE $0x49; BYTE $0xd8

// TRANSPOSE16 transposes the 16×16 dword matrix whose rows are Z0-Z15 into
// Z0-Z15 (row i of the result is column i), using Z16-Z31: dword and qword
// interleaves inside 128-bit lanes, then two rounds of lane shuffles.
#define TRANSPOSE16 \
	VPUNPCKLDQ Z1, Z0, Z16; \
	VPUNPCKHDQ Z1, Z0, Z17; \
	VPUNPCKLDQ Z3, Z2, Z18; \
	VPUNPCKHDQ Z3, Z2, Z19; \
	VPUNPCKLDQ Z5, Z4, Z20; \
	VPUNPCKHDQ Z5, Z4, Z21; \
	VPUNPCKLDQ Z7, Z6, Z22; \
	VPUNPCKHDQ Z7, Z6, Z23; \
	VPUNPCKLDQ Z9, Z8, Z24; \
	VPUNPCKHDQ Z9, Z8, Z25; \
	VPUNPCKLDQ Z11, Z10, Z26; \
	VPUNPCKHDQ Z11, Z10, Z27; \
	VPUNPCKLDQ Z13, Z12, Z28; \
	VPUNPCKHDQ Z13, Z12, Z29; \
	VPUNPCKLDQ Z15, Z14, Z30; \
	VPUNPCKHDQ Z15, Z14, Z31; \
	VPUNPCKLQDQ Z18, Z16, Z0; \
	VPUNPCKHQDQ Z18, Z16, Z1; \
	VPUNPCKLQDQ Z19, Z17, Z2; \
	VPUNPCKHQDQ Z19, Z17, Z3; \
	VPUNPCKLQDQ Z22, Z20, Z4; \
	VPUNPCKHQDQ Z22, Z20, Z5; \
	VPUNPCKLQDQ Z23, Z21, Z6; \
	VPUNPCKHQDQ Z23, Z21, Z7; \
	VPUNPCKLQDQ Z26, Z24, Z8; \
	VPUNPCKHQDQ Z26, Z24, Z9; \
	VPUNPCKLQDQ Z27, Z25, Z10; \
	VPUNPCKHQDQ Z27, Z25, Z11; \
	VPUNPCKLQDQ Z30, Z28, Z12; \
	VPUNPCKHQDQ Z30, Z28, Z13; \
	VPUNPCKLQDQ Z31, Z29, Z14; \
	VPUNPCKHQDQ Z31, Z29, Z15; \
	VSHUFI32X4 $0x88, Z4, Z0, Z16; \
	VSHUFI32X4 $0xdd, Z4, Z0, Z20; \
	VSHUFI32X4 $0x88, Z12, Z8, Z24; \
	VSHUFI32X4 $0xdd, Z12, Z8, Z28; \
	VSHUFI32X4 $0x88, Z5, Z1, Z17; \
	VSHUFI32X4 $0xdd, Z5, Z1, Z21; \
	VSHUFI32X4 $0x88, Z13, Z9, Z25; \
	VSHUFI32X4 $0xdd, Z13, Z9, Z29; \
	VSHUFI32X4 $0x88, Z6, Z2, Z18; \
	VSHUFI32X4 $0xdd, Z6, Z2, Z22; \
	VSHUFI32X4 $0x88, Z14, Z10, Z26; \
	VSHUFI32X4 $0xdd, Z14, Z10, Z30; \
	VSHUFI32X4 $0x88, Z7, Z3, Z19; \
	VSHUFI32X4 $0xdd, Z7, Z3, Z23; \
	VSHUFI32X4 $0x88, Z15, Z11, Z27; \
	VSHUFI32X4 $0xdd, Z15, Z11, Z31; \
	VSHUFI32X4 $0x88, Z24, Z16, Z0; \
	VSHUFI32X4 $0xdd, Z24, Z16, Z8; \
	VSHUFI32X4 $0x88, Z28, Z20, Z4; \
	VSHUFI32X4 $0xdd, Z28, Z20, Z12; \
	VSHUFI32X4 $0x88, Z25, Z17, Z1; \
	VSHUFI32X4 $0xdd, Z25, Z17, Z9; \
	VSHUFI32X4 $0x88, Z29, Z21, Z5; \
	VSHUFI32X4 $0xdd, Z29, Z21, Z13; \
	VSHUFI32X4 $0x88, Z26, Z18, Z2; \
	VSHUFI32X4 $0xdd, Z26, Z18, Z10; \
	VSHUFI32X4 $0x88, Z30, Z22, Z6; \
	VSHUFI32X4 $0xdd, Z30, Z22, Z14; \
	VSHUFI32X4 $0x88, Z27, Z19, Z3; \
	VSHUFI32X4 $0xdd, Z27, Z19, Z11; \
	VSHUFI32X4 $0x88, Z31, Z23, Z7; \
	VSHUFI32X4 $0xdd, Z31, Z23, Z15

// EXPAND unpacks the 32 code bytes of one i2b128 block of weight row n
// (at R8) into two A rows of 64 codes in natural weight order: row n of the
// even tile buffer (CX) gets weights 0-63 (fields 7:6 and 5:4 of the 32
// bytes), row n of the odd one (CX+1024) weights 64-127 (fields 3:2 and
// 1:0). Each 256-bit half of the broadcast is shifted by its own count (Z30,
// Z31), then masked to two bits (Z29); the word shift carries bits of the
// neighbouring byte only into bits the mask drops.
#define EXPAND(n) \
	VBROADCASTI64X4 (R8), Z16; \
	VPSRLVW Z30, Z16, Z17; \
	VPSRLVW Z31, Z16, Z16; \
	VPANDD Z29, Z17, Z17; \
	VPANDD Z29, Z16, Z16; \
	VMOVDQU64 Z17, n*64(CX); \
	VMOVDQU64 Z16, 1024+n*64(CX); \
	ADDQ R9, R8

#define EXPAND16 \
	EXPAND(0); EXPAND(1); EXPAND(2); EXPAND(3); \
	EXPAND(4); EXPAND(5); EXPAND(6); EXPAND(7); \
	EXPAND(8); EXPAND(9); EXPAND(10); EXPAND(11); \
	EXPAND(12); EXPAND(13); EXPAND(14); EXPAND(15)

// Word shift counts: for the even buffer 6 (weights 0-31) then 4 (32-63), for
// the odd one 2 (64-95) then 0 (96-127).
DATA amxshift<>+0(SB)/8, $0x0006000600060006
DATA amxshift<>+8(SB)/8, $0x0006000600060006
DATA amxshift<>+16(SB)/8, $0x0006000600060006
DATA amxshift<>+24(SB)/8, $0x0006000600060006
DATA amxshift<>+32(SB)/8, $0x0004000400040004
DATA amxshift<>+40(SB)/8, $0x0004000400040004
DATA amxshift<>+48(SB)/8, $0x0004000400040004
DATA amxshift<>+56(SB)/8, $0x0004000400040004
DATA amxshift<>+64(SB)/8, $0x0002000200020002
DATA amxshift<>+72(SB)/8, $0x0002000200020002
DATA amxshift<>+80(SB)/8, $0x0002000200020002
DATA amxshift<>+88(SB)/8, $0x0002000200020002
DATA amxshift<>+96(SB)/8, $0x0000000000000000
DATA amxshift<>+104(SB)/8, $0x0000000000000000
DATA amxshift<>+112(SB)/8, $0x0000000000000000
DATA amxshift<>+120(SB)/8, $0x0000000000000000
GLOBL amxshift<>(SB), RODATA|NOPTR, $128

// func amxPackB(b *byte, rows *[16]*int8, chunks int, step int)
//
// For each 64-activation chunk c < chunks, writes the B tile of 16 tokens
// (token n's activations at rows[n]) to b + c*step: row q, dword n holds
// activations 64c+4q .. 64c+4q+3 of token n, a 16×16 dword transpose.
TEXT ·amxPackB(SB), NOSPLIT, $0-32
	MOVQ b+0(FP), DI
	MOVQ rows+8(FP), SI
	MOVQ chunks+16(FP), CX
	MOVQ step+24(FP), DX
	XORQ BX, BX

packLoop:
	MOVQ 0(SI), R8
	VMOVDQU64 (R8)(BX*1), Z0
	MOVQ 8(SI), R8
	VMOVDQU64 (R8)(BX*1), Z1
	MOVQ 16(SI), R8
	VMOVDQU64 (R8)(BX*1), Z2
	MOVQ 24(SI), R8
	VMOVDQU64 (R8)(BX*1), Z3
	MOVQ 32(SI), R8
	VMOVDQU64 (R8)(BX*1), Z4
	MOVQ 40(SI), R8
	VMOVDQU64 (R8)(BX*1), Z5
	MOVQ 48(SI), R8
	VMOVDQU64 (R8)(BX*1), Z6
	MOVQ 56(SI), R8
	VMOVDQU64 (R8)(BX*1), Z7
	MOVQ 64(SI), R8
	VMOVDQU64 (R8)(BX*1), Z8
	MOVQ 72(SI), R8
	VMOVDQU64 (R8)(BX*1), Z9
	MOVQ 80(SI), R8
	VMOVDQU64 (R8)(BX*1), Z10
	MOVQ 88(SI), R8
	VMOVDQU64 (R8)(BX*1), Z11
	MOVQ 96(SI), R8
	VMOVDQU64 (R8)(BX*1), Z12
	MOVQ 104(SI), R8
	VMOVDQU64 (R8)(BX*1), Z13
	MOVQ 112(SI), R8
	VMOVDQU64 (R8)(BX*1), Z14
	MOVQ 120(SI), R8
	VMOVDQU64 (R8)(BX*1), Z15
	TRANSPOSE16
	VMOVDQU64 Z0, 0(DI)
	VMOVDQU64 Z1, 64(DI)
	VMOVDQU64 Z2, 128(DI)
	VMOVDQU64 Z3, 192(DI)
	VMOVDQU64 Z4, 256(DI)
	VMOVDQU64 Z5, 320(DI)
	VMOVDQU64 Z6, 384(DI)
	VMOVDQU64 Z7, 448(DI)
	VMOVDQU64 Z8, 512(DI)
	VMOVDQU64 Z9, 576(DI)
	VMOVDQU64 Z10, 640(DI)
	VMOVDQU64 Z11, 704(DI)
	VMOVDQU64 Z12, 768(DI)
	VMOVDQU64 Z13, 832(DI)
	VMOVDQU64 Z14, 896(DI)
	VMOVDQU64 Z15, 960(DI)
	ADDQ $64, BX
	ADDQ DX, DI
	DECQ CX
	JNZ  packLoop
	VZEROUPPER
	RET

// func t2MatMulAMX(a *amxArgs)
//
// For each group of 16 weight rows: C = -xsum of its tokens in every row (a
// stride-0 tile load repeats one 64-byte row), then per i2b128 block the two
// A tiles (even and odd 64 weights) are multiplied into C with TDPBUSD
// (unsigned codes w+1 × signed activations, exact int32 sums). The unpack of
// block b+1 into the other pair of A buffers overlaps the products of block
// b, so that no tile load reads lines still in the store buffer. With one or
// two token tiles the odd halves accumulate in tmm2/tmm3, a second
// dependency chain per token tile; the two are added on the way out. Each C
// tile is stored, transposed to token-major order and copied to dst for the
// tokens that exist.
//
// The tile state lives only inside this call: the configuration is loaded
// at entry and TILERELEASE returns the tiles to their initial state before
// RET, so a goroutine that moves to another thread between calls carries no
// tile state (and assembly functions are never preempted asynchronously).
TEXT ·t2MatMulAMX(SB), NOSPLIT, $0-8
	MOVQ a+0(FP), AX
	MOVQ amxCfg(AX), DI
	LDTILECFG_DI

	// The walking copies of w and dst are uintptr fields: writing a
	// pointer field here would bypass the garbage collector's write barrier,
	// and a pointer past the end of its object must never be stored where
	// the collector looks.
	MOVQ amxW(AX), DX
	MOVQ DX, amxWCur(AX)
	MOVQ amxDst(AX), DX
	MOVQ DX, amxDstCur(AX)
	MOVQ amxStride(AX), R9
	MOVQ amxGroups(AX), BX
	MOVQ $64, R10
	XORQ R12, R12

group:
	// Constants again each group: the output transpose uses Z16-Z31.
	MOVL         $0x03030303, DX
	VPBROADCASTD DX, Z29
	VMOVDQU64    amxshift<>+0(SB), Z30
	VMOVDQU64    amxshift<>+64(SB), Z31

	MOVQ amxNxs(AX), DI
	MOVQ amxNtiles(AX), DX
	TLOAD_C0_DI_R12
	CMPQ DX, $2
	JGT  initWide
	TZERO_C2
	TZERO_C3
	CMPQ DX, $1
	JEQ  initDone
	ADDQ $64, DI
	TLOAD_C1_DI_R12
	JMP  initDone

initWide:
	ADDQ $64, DI
	TLOAD_C1_DI_R12
	ADDQ $64, DI
	TLOAD_C2_DI_R12
	CMPQ DX, $3
	JEQ  initDone
	ADDQ $64, DI
	TLOAD_C3_DI_R12

initDone:
	MOVQ amxB(AX), SI
	MOVQ amxWCur(AX), R13
	MOVQ amxBlocks(AX), DX
	MOVQ amxA(AX), CX
	MOVQ R13, R8
	EXPAND16
	ADDQ $32, R13

block:
	// A tiles of this block (unpacked one iteration earlier) from CX.
	MOVQ CX, R11
	LEAQ 1024(CX), DI
	TLOAD_A4_R11_R10
	TLOAD_A5_DI_R10
	CMPQ DX, $1
	JEQ  dots
	MOVQ amxA(AX), CX
	CMPQ CX, R11
	JNE  expandNext
	ADDQ $2048, CX

expandNext:
	MOVQ R13, R8
	EXPAND16
	ADDQ $32, R13

dots:
	// Even half: A = tmm4; the B tiles of a chunk follow each other at SI.
	TLOAD_B6_SI_R10
	TDPBUSD_C0_A4_B6
	ADDQ $1024, SI
	CMPQ amxNtiles(AX), $1
	JEQ  evenDone
	TLOAD_B7_SI_R10
	TDPBUSD_C1_A4_B7
	ADDQ $1024, SI
	CMPQ amxNtiles(AX), $2
	JEQ  evenDone
	TLOAD_B6_SI_R10
	TDPBUSD_C2_A4_B6
	ADDQ $1024, SI
	CMPQ amxNtiles(AX), $3
	JEQ  evenDone
	TLOAD_B7_SI_R10
	TDPBUSD_C3_A4_B7
	ADDQ $1024, SI

evenDone:
	// Odd half: A = tmm5.
	CMPQ amxNtiles(AX), $2
	JGT  oddWide
	TLOAD_B6_SI_R10
	TDPBUSD_C2_A5_B6
	ADDQ $1024, SI
	CMPQ amxNtiles(AX), $1
	JEQ  oddDone
	TLOAD_B7_SI_R10
	TDPBUSD_C3_A5_B7
	ADDQ $1024, SI
	JMP  oddDone

oddWide:
	TLOAD_B6_SI_R10
	TDPBUSD_C0_A5_B6
	ADDQ $1024, SI
	TLOAD_B7_SI_R10
	TDPBUSD_C1_A5_B7
	ADDQ $1024, SI
	TLOAD_B6_SI_R10
	TDPBUSD_C2_A5_B6
	ADDQ $1024, SI
	CMPQ amxNtiles(AX), $3
	JEQ  oddDone
	TLOAD_B7_SI_R10
	TDPBUSD_C3_A5_B7
	ADDQ $1024, SI

oddDone:
	DECQ DX
	JNZ  block

	// Results: tile j covers tokens 16j..16j+15; DX counts the tokens still
	// to write, R13 walks dst one token (ldd bytes) at a time.
	MOVQ amxC(AX), DI
	MOVQ amxDstCur(AX), R13
	MOVQ amxNtok(AX), DX
	XORQ R8, R8

outTile:
	CMPQ R8, $0
	JNE  out1
	TSTORE_DI_R10_C0
	JMP  stored

out1:
	CMPQ R8, $1
	JNE  out2
	TSTORE_DI_R10_C1
	JMP  stored

out2:
	CMPQ R8, $2
	JNE  out3
	TSTORE_DI_R10_C2
	JMP  stored

out3:
	TSTORE_DI_R10_C3

stored:
	VMOVDQU64 0(DI), Z0
	VMOVDQU64 64(DI), Z1
	VMOVDQU64 128(DI), Z2
	VMOVDQU64 192(DI), Z3
	VMOVDQU64 256(DI), Z4
	VMOVDQU64 320(DI), Z5
	VMOVDQU64 384(DI), Z6
	VMOVDQU64 448(DI), Z7
	VMOVDQU64 512(DI), Z8
	VMOVDQU64 576(DI), Z9
	VMOVDQU64 640(DI), Z10
	VMOVDQU64 704(DI), Z11
	VMOVDQU64 768(DI), Z12
	VMOVDQU64 832(DI), Z13
	VMOVDQU64 896(DI), Z14
	VMOVDQU64 960(DI), Z15
	CMPQ amxNtiles(AX), $2
	JGT  transpose

	// One or two token tiles: add the odd-half accumulator (tmm2 or tmm3).
	ADDQ $1024, DI
	CMPQ R8, $0
	JNE  pair1
	TSTORE_DI_R10_C2
	JMP  pairAdd

pair1:
	TSTORE_DI_R10_C3

pairAdd:
	VPADDD    0(DI), Z0, Z0
	VPADDD    64(DI), Z1, Z1
	VPADDD    128(DI), Z2, Z2
	VPADDD    192(DI), Z3, Z3
	VPADDD    256(DI), Z4, Z4
	VPADDD    320(DI), Z5, Z5
	VPADDD    384(DI), Z6, Z6
	VPADDD    448(DI), Z7, Z7
	VPADDD    512(DI), Z8, Z8
	VPADDD    576(DI), Z9, Z9
	VPADDD    640(DI), Z10, Z10
	VPADDD    704(DI), Z11, Z11
	VPADDD    768(DI), Z12, Z12
	VPADDD    832(DI), Z13, Z13
	VPADDD    896(DI), Z14, Z14
	VPADDD    960(DI), Z15, Z15
	SUBQ $1024, DI

transpose:
	TRANSPOSE16
	VMOVDQU64 Z0, 0(DI)
	VMOVDQU64 Z1, 64(DI)
	VMOVDQU64 Z2, 128(DI)
	VMOVDQU64 Z3, 192(DI)
	VMOVDQU64 Z4, 256(DI)
	VMOVDQU64 Z5, 320(DI)
	VMOVDQU64 Z6, 384(DI)
	VMOVDQU64 Z7, 448(DI)
	VMOVDQU64 Z8, 512(DI)
	VMOVDQU64 Z9, 576(DI)
	VMOVDQU64 Z10, 640(DI)
	VMOVDQU64 Z11, 704(DI)
	VMOVDQU64 Z12, 768(DI)
	VMOVDQU64 Z13, 832(DI)
	VMOVDQU64 Z14, 896(DI)
	VMOVDQU64 Z15, 960(DI)

	// Copy min(16, DX) token rows of 16 results.
	MOVQ    $16, SI
	CMPQ    DX, SI
	CMOVQLT DX, SI
	SUBQ    SI, DX
	MOVQ    DI, CX

copyRow:
	VMOVDQU64 (CX), Z0
	VMOVDQU64 Z0, (R13)
	ADDQ      $64, CX
	ADDQ      amxLdd(AX), R13
	DECQ      SI
	JNZ       copyRow

	INCQ R8
	CMPQ R8, amxNtiles(AX)
	JLT  outTile

	// Next group: 16 rows on in w and dst.
	ADDQ $64, amxDstCur(AX)
	MOVQ R9, DX
	SHLQ $4, DX
	ADDQ DX, amxWCur(AX)
	DECQ BX
	JNZ  group

	TILERELEASE
	VZEROUPPER
	RET
