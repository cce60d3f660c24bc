//go:build gc && !purego && !noasm

#include "textflag.h"

// func axpy4Asm(y, b *float32, ld int, a *[4]float32, n int)
// y[j] += a0·b[j] + a1·b[ld+j] + a2·b[2ld+j] + a3·b[3ld+j], 16 then 8
// floats per step, two independent FMA chains per vector.
TEXT ·axpy4Asm(SB), NOSPLIT, $0-40
	MOVQ y+0(FP), DI
	MOVQ b+8(FP), SI
	MOVQ ld+16(FP), DX
	MOVQ a+24(FP), AX
	MOVQ n+32(FP), CX
	SHLQ $2, DX
	SHLQ $2, CX
	VBROADCASTSS 0(AX), Y0
	VBROADCASTSS 4(AX), Y1
	VBROADCASTSS 8(AX), Y2
	VBROADCASTSS 12(AX), Y3
	LEAQ (SI)(DX*1), R8
	LEAQ (R8)(DX*1), R9
	LEAQ (R9)(DX*1), R10
	XORQ BX, BX

loop16:
	MOVQ CX, R11
	SUBQ BX, R11
	CMPQ R11, $64
	JLT  tail8
	VMOVUPS     (DI)(BX*1), Y4
	VMOVUPS     32(DI)(BX*1), Y5
	VFMADD231PS (SI)(BX*1), Y0, Y4
	VFMADD231PS 32(SI)(BX*1), Y0, Y5
	VMULPS      (R8)(BX*1), Y1, Y6
	VMULPS      32(R8)(BX*1), Y1, Y7
	VFMADD231PS (R9)(BX*1), Y2, Y4
	VFMADD231PS 32(R9)(BX*1), Y2, Y5
	VFMADD231PS (R10)(BX*1), Y3, Y6
	VFMADD231PS 32(R10)(BX*1), Y3, Y7
	VADDPS      Y6, Y4, Y4
	VADDPS      Y7, Y5, Y5
	VMOVUPS     Y4, (DI)(BX*1)
	VMOVUPS     Y5, 32(DI)(BX*1)
	ADDQ        $64, BX
	JMP         loop16

tail8:
	CMPQ R11, $32
	JLT  done
	VMOVUPS     (DI)(BX*1), Y4
	VFMADD231PS (SI)(BX*1), Y0, Y4
	VMULPS      (R8)(BX*1), Y1, Y6
	VFMADD231PS (R9)(BX*1), Y2, Y4
	VFMADD231PS (R10)(BX*1), Y3, Y6
	VADDPS      Y6, Y4, Y4
	VMOVUPS     Y4, (DI)(BX*1)

done:
	VZEROUPPER
	RET
