//go:build linux && gc && !purego && !noasm

package simd

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"unsafe"

	"github.com/klauspost/cpuid/v2"
)

// The amx tier is the AVX-512 VNNI tier with prefill (MatMulT2) on Intel AMX
// tiles (Sapphire Rapids and later). Decode stays on AVX-512: one token
// cannot fill a tile, and decode is bound by memory bandwidth anyway.
//
// Why AMX: prefill of n tokens is n times the arithmetic of decode on the
// same weights, and VPDPBUSD (64 multiply-adds per instruction) makes it
// compute bound. One TDPBUSD does 16×16×64 multiply-adds.
//
// Layout of the product (Intel SDM vol. 1, "Intel AMX" and vol. 2,
// "TDPBUSD"): C[m][n] += Σ_k A[m][4k+i]·B[k][4n+i]. A is 16 weight rows × 64
// codes (w+1 in {0,1,2}, unsigned), unpacked from i2b128 per block into a
// scratch buffer; B is 16 dwords of 4 activations × 16 tokens (signed),
// transposed once per call from the token-major activations; C is 16 rows ×
// 16 tokens of int32 and starts at -xsum[token], so that it ends at Σ w·x.
// Weights as A (not B) keep the per-block unpack a plain expansion of each
// row; the transposes fall on the activations (once per call) and on C (once
// per 16×16 results), both far less work than the weights.

// Linux arch_prctl codes and the XSAVE component of tile data
// (arch/x86/include/uapi/asm/prctl.h; Documentation/arch/x86/xstate.rst,
// "Using dynamically enabled XSTATE features in user space applications").
const (
	archGetXcompPerm  = 0x1022
	archReqXcompPerm  = 0x1023
	xfeatureXTileData = 18
)

// amxErr says why the amx tier is unavailable (nil when it is available).
var amxErr = amxUsable()

// amxUsable checks the CPU and asks the kernel for tile data permission.
// Linux keeps AMX tile data (8 KiB of XSAVE state) off by default so that
// signal frames and thread buffers stay small; a process must request it
// with arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) before its first
// tile instruction, or that instruction kills it with SIGILL. The request
// is process-wide and made once, here. The kernel refuses it when a thread's
// alternate signal stack cannot hold the larger frame; Go's 32 KiB signal
// stacks can.
func amxUsable() error {
	if !hasAVX512VNNI {
		return errors.New("amx: needs AVX-512 VNNI for decode and the prefill tails")
	}
	if !cpuid.CPU.Supports(cpuid.AMXTILE, cpuid.AMXINT8) {
		return errors.New("amx: the CPU lacks AMX-TILE or AMX-INT8")
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, archReqXcompPerm, xfeatureXTileData, 0); e != 0 {
		return fmt.Errorf("amx: arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) refused: %w", e)
	}
	var perm uint64
	if _, _, e := syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, archGetXcompPerm, uintptr(unsafe.Pointer(&perm)), 0); e != 0 {
		return fmt.Errorf("amx: arch_prctl(ARCH_GET_XCOMP_PERM) failed: %w", e)
	}
	if perm&(1<<xfeatureXTileData) == 0 {
		return fmt.Errorf("amx: tile data not permitted after the request (permitted features %#x)", perm)
	}
	return nil
}

// AMXError reports why the amx tier is unavailable in this process, or nil
// when it is available.
func AMXError() error { return amxErr }

func init() {
	vnni := amd64Kernels{t2: t2DecodeVNNI512, t2x8: t2DecodeVNNI512x8, permute: true, mm4: t2MatMul4VNNI512}
	register(Impl{
		Tier:      TierAMX,
		MatVecT2:  vnni.matVecT2,
		MatVecT16: amd64Kernels{t16: t16DecodeVNNI512}.matVecT16,
		MatMulT2:  amxKernels{vnni: vnni}.matMulT2,
		MatVecI8:  amd64Kernels{i8: i8MatVecVNNI512, i8Step: 64}.matVecI8,
	}.withFloat(floatAVX512, true), amxErr == nil)
}

// amxArgs is the argument block of t2MatMulAMX; the offsets are repeated as
// #defines in amx_amd64.s (TestAMXArgsLayout). The kernel writes only the
// last three fields.
type amxArgs struct {
	cfg    *byte  // 64-byte tile configuration
	w      *byte  // row 0 of the first group of 16 rows
	stride int    // bytes between weight rows
	groups int    // groups of 16 rows
	blocks int    // i2b128 blocks per row
	b      *byte  // activations, from amxPackB: [2*blocks][ntiles] tiles of 1 KiB
	ntiles int    // token tiles of 16 (1..4)
	nxs    *int32 // -xsum per token, 16*ntiles values
	dst    *int32 // result of token 0, row 0
	ldd    int    // bytes between tokens in dst
	ntok   int    // tokens to write (1..64)
	a      *byte  // 4 KiB: two pairs of A tiles (this block, the next)
	c      *byte  // 2 KiB: a C tile on its way to dst, and its odd-half partner
	// The kernel's walking copies of w and dst: uintptr, so that it writes
	// no pointer (assembly has no write barrier) and leaves none past an
	// object's end for the collector to find.
	wCur, dstCur uintptr
}

//go:noescape
func t2MatMulAMX(a *amxArgs)

//go:noescape
func amxPackB(b *byte, rows *[16]*int8, chunks int, step int)

const (
	amxTileBytes = 1024 // 16 rows × 64 bytes
	amxMaxTiles  = 4    // token tiles per kernel call: tmm0-tmm3 hold C
	// amxMinTokens is the fewest tokens worth the tile path: unpacking the
	// weights costs about as much as AVX-512 VNNI prefill of four tokens
	// (BenchmarkAMXPrefill, 4096×4096: equal at 4 tokens, tiles twice as
	// fast at 8).
	amxMinTokens = 5
	// amxMaxLen bounds the activation buffer (16·K bytes per token tile,
	// 2 MiB at this length); longer rows use the AVX-512 kernel.
	amxMaxLen = 32768
)

// amxScratch is one call's working memory, pooled so that a warm call
// allocates nothing; sync.Pool keeps one per P, so each worker of a Pool
// reuses its own.
type amxScratch struct {
	buf  []byte
	cfg  []byte // 64
	a    []byte // 4 tiles
	c    []byte // 2 tiles
	b    []byte // 2*blocks*amxMaxTiles tiles
	nxs  [16 * amxMaxTiles]int32
	rows [16]*int8
	args amxArgs
}

var amxScratchPool = sync.Pool{New: func() any { return new(amxScratch) }}

// ensure sizes the buffers for rows of the given number of blocks. Tile
// rows are 64-byte aligned so that no tile load splits cache lines.
func (s *amxScratch) ensure(blocks int) {
	need := 64 + 6*amxTileBytes + 2*blocks*amxMaxTiles*amxTileBytes
	if len(s.b) >= 2*blocks*amxMaxTiles*amxTileBytes && s.cfg != nil {
		return
	}
	s.buf = make([]byte, need+63)
	off := int(-uintptr(unsafe.Pointer(&s.buf[0])) & 63)
	p := s.buf[off:]
	s.cfg, p = p[:64:64], p[64:]
	s.a, p = p[:4*amxTileBytes:4*amxTileBytes], p[4*amxTileBytes:]
	s.c, p = p[:2*amxTileBytes:2*amxTileBytes], p[2*amxTileBytes:]
	s.b = p[:need-64-6*amxTileBytes]
	// Palette 1, every tile 16 rows of 64 bytes (Intel SDM vol. 2,
	// LDTILECFG: byte 0 palette, 1 start row, 16+2i colsb of tile i, 48+i
	// its rows; the rest zero).
	clear(s.cfg)
	s.cfg[0] = 1
	for i := 0; i < 8; i++ {
		s.cfg[16+2*i] = 64
		s.cfg[48+i] = 16
	}
}

// amxKernels runs prefill on tiles for whole groups of 16 rows and leaves
// the other rows, short rows and single tokens to the AVX-512 VNNI kernels.
type amxKernels struct{ vnni amd64Kernels }

func (k amxKernels) matMulT2(dst []int32, ldd int, w []byte, stride int, rows int, x []int8, ldx int, kk int, xsum []int32, ntok int) {
	blocks := checkMatMulArgs("MatMulT2", dst, ldd, w, stride, rows, x, ldx, kk, xsum, ntok)
	groups := rows / 16
	if groups == 0 || blocks == 0 || ntok < amxMinTokens || kk > amxMaxLen {
		k.vnni.matMulT2(dst, ldd, w, stride, rows, x, ldx, kk, xsum, ntok)
		return
	}
	s := amxScratchPool.Get().(*amxScratch)
	s.ensure(blocks)
	chunks := 2 * blocks
	for t0 := 0; t0 < ntok; t0 += 16 * amxMaxTiles {
		nt := min(16*amxMaxTiles, ntok-t0)
		ntiles := (nt + 15) / 16
		// Tokens past the last one repeat it; their results are not stored.
		for j := 0; j < ntiles; j++ {
			for n := range s.rows {
				s.rows[n] = &x[(t0+min(16*j+n, nt-1))*ldx]
			}
			amxPackB(&s.b[j*amxTileBytes], &s.rows, chunks, ntiles*amxTileBytes)
		}
		for n := 0; n < 16*ntiles; n++ {
			s.nxs[n] = -xsum[t0+min(n, nt-1)]
		}
		s.args = amxArgs{
			cfg: &s.cfg[0], w: &w[0], stride: stride, groups: groups, blocks: blocks,
			b: &s.b[0], ntiles: ntiles, nxs: &s.nxs[0],
			dst: &dst[t0*ldd], ldd: 4 * ldd, ntok: nt,
			a: &s.a[0], c: &s.c[0],
		}
		t2MatMulAMX(&s.args)
	}
	// Drop the references into the caller's slices before pooling.
	s.rows = [16]*int8{}
	s.args = amxArgs{}
	amxScratchPool.Put(s)
	if r0 := groups * 16; r0 < rows {
		k.vnni.matMulT2(dst[r0:], ldd, w[r0*stride:], stride, rows-r0, x, ldx, kk, xsum, ntok)
	}
}
