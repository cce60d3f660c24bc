package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"regexp"
	"strconv"
	"testing"
)

// Little-endian instruction bytes as printed by an independent assembler
// (LLVM: llvm-mc -triple=aarch64 -mattr=+dotprod -show-encoding), for
// registers chosen so that every bit of each register field is exercised.
var golden = []struct {
	op      string
	d, n, m int
	bytes   [4]byte
	text    string
}{
	{"SDOT", 1, 2, 3, [4]byte{0x41, 0x94, 0x83, 0x4e}, "sdot\tv1.4s, v2.16b, v3.16b"},
	{"SDOT", 31, 30, 29, [4]byte{0xdf, 0x97, 0x9d, 0x4e}, "sdot\tv31.4s, v30.16b, v29.16b"},
	{"SMULL", 1, 2, 3, [4]byte{0x41, 0xc0, 0x23, 0x0e}, "smull\tv1.8h, v2.8b, v3.8b"},
	{"SMULL2", 1, 2, 3, [4]byte{0x41, 0xc0, 0x23, 0x4e}, "smull2\tv1.8h, v2.16b, v3.16b"},
	{"SMLAL", 1, 2, 3, [4]byte{0x41, 0x80, 0x23, 0x0e}, "smlal\tv1.8h, v2.8b, v3.8b"},
	{"SMLAL2", 1, 2, 3, [4]byte{0x41, 0x80, 0x23, 0x4e}, "smlal2\tv1.8h, v2.16b, v3.16b"},
	{"SADALP", 1, 2, 0, [4]byte{0x41, 0x68, 0x60, 0x4e}, "sadalp\tv1.4s, v2.8h"},
	{"MUL", 1, 2, 3, [4]byte{0x41, 0x9c, 0x23, 0x4e}, "mul\tv1.16b, v2.16b, v3.16b"},
	{"UHADD", 1, 2, 3, [4]byte{0x41, 0x04, 0x23, 0x6e}, "uhadd\tv1.16b, v2.16b, v3.16b"},
	// GNU as (binutils-aarch64-linux-gnu 2.40) and objdump -d.
	{"FMUL", 1, 2, 3, [4]byte{0x41, 0xdc, 0x23, 0x6e}, "fmul\tv1.4s, v2.4s, v3.4s"},
	{"FMUL", 31, 30, 29, [4]byte{0xdf, 0xdf, 0x3d, 0x6e}, "fmul\tv31.4s, v30.4s, v29.4s"},
	{"FADD", 1, 2, 3, [4]byte{0x41, 0xd4, 0x23, 0x4e}, "fadd\tv1.4s, v2.4s, v3.4s"},
	{"FADD", 31, 30, 29, [4]byte{0xdf, 0xd7, 0x3d, 0x4e}, "fadd\tv31.4s, v30.4s, v29.4s"},
	{"FSUB", 1, 2, 3, [4]byte{0x41, 0xd4, 0xa3, 0x4e}, "fsub\tv1.4s, v2.4s, v3.4s"},
	{"FSUB", 31, 30, 29, [4]byte{0xdf, 0xd7, 0xbd, 0x4e}, "fsub\tv31.4s, v30.4s, v29.4s"},
	{"FDIV", 1, 2, 3, [4]byte{0x41, 0xfc, 0x23, 0x6e}, "fdiv\tv1.4s, v2.4s, v3.4s"},
	{"FDIV", 31, 30, 29, [4]byte{0xdf, 0xff, 0x3d, 0x6e}, "fdiv\tv31.4s, v30.4s, v29.4s"},
	{"FMAX", 1, 2, 3, [4]byte{0x41, 0xf4, 0x23, 0x4e}, "fmax\tv1.4s, v2.4s, v3.4s"},
	{"FCMGE", 1, 2, 3, [4]byte{0x41, 0xe4, 0x23, 0x6e}, "fcmge\tv1.4s, v2.4s, v3.4s"},
	{"FCMGT", 1, 2, 3, [4]byte{0x41, 0xe4, 0xa3, 0x6e}, "fcmgt\tv1.4s, v2.4s, v3.4s"},
	{"FCMGT", 31, 30, 29, [4]byte{0xdf, 0xe7, 0xbd, 0x6e}, "fcmgt\tv31.4s, v30.4s, v29.4s"},
	{"FCMEQ", 1, 2, 3, [4]byte{0x41, 0xe4, 0x23, 0x4e}, "fcmeq\tv1.4s, v2.4s, v3.4s"},
	{"CMHI", 1, 2, 3, [4]byte{0x41, 0x34, 0xa3, 0x6e}, "cmhi\tv1.4s, v2.4s, v3.4s"},
	{"FMUL_2D", 1, 2, 3, [4]byte{0x41, 0xdc, 0x63, 0x6e}, "fmul\tv1.2d, v2.2d, v3.2d"},
	{"FADD_2D", 1, 2, 3, [4]byte{0x41, 0xd4, 0x63, 0x4e}, "fadd\tv1.2d, v2.2d, v3.2d"},
	{"CMLT", 1, 2, 0, [4]byte{0x41, 0xa8, 0xa0, 0x4e}, "cmlt\tv1.4s, v2.4s, #0"},
	{"FCVTNS", 1, 2, 0, [4]byte{0x41, 0xa8, 0x21, 0x4e}, "fcvtns\tv1.4s, v2.4s"},
	{"FCVTNS", 31, 30, 0, [4]byte{0xdf, 0xab, 0x21, 0x4e}, "fcvtns\tv31.4s, v30.4s"},
	{"FCVTMS", 1, 2, 0, [4]byte{0x41, 0xb8, 0x21, 0x4e}, "fcvtms\tv1.4s, v2.4s"},
	{"SCVTF", 1, 2, 0, [4]byte{0x41, 0xd8, 0x21, 0x4e}, "scvtf\tv1.4s, v2.4s"},
	{"SQXTN_4S", 1, 2, 0, [4]byte{0x41, 0x48, 0x61, 0x0e}, "sqxtn\tv1.4h, v2.4s"},
	{"SQXTN2_4S", 1, 2, 0, [4]byte{0x41, 0x48, 0x61, 0x4e}, "sqxtn2\tv1.8h, v2.4s"},
	{"SQXTN_8H", 1, 2, 0, [4]byte{0x41, 0x48, 0x21, 0x0e}, "sqxtn\tv1.8b, v2.8h"},
	{"SQXTN2_8H", 1, 2, 0, [4]byte{0x41, 0x48, 0x21, 0x4e}, "sqxtn2\tv1.16b, v2.8h"},
	{"SADDLP", 1, 2, 0, [4]byte{0x41, 0x28, 0x20, 0x4e}, "saddlp\tv1.8h, v2.16b"},
	{"FCVTL", 1, 2, 0, [4]byte{0x41, 0x78, 0x61, 0x0e}, "fcvtl\tv1.2d, v2.2s"},
	{"FCVTL_4H", 1, 2, 0, [4]byte{0x41, 0x78, 0x21, 0x0e}, "fcvtl\tv1.4s, v2.4h"},
	{"FCVTL_4H", 31, 30, 0, [4]byte{0xdf, 0x7b, 0x21, 0x0e}, "fcvtl\tv31.4s, v30.4h"},
	{"FCVTL2_8H", 1, 2, 0, [4]byte{0x41, 0x78, 0x21, 0x4e}, "fcvtl2\tv1.4s, v2.8h"},
	{"FCVTL2", 1, 2, 0, [4]byte{0x41, 0x78, 0x61, 0x4e}, "fcvtl2\tv1.2d, v2.4s"},
}

func TestEncodeGolden(t *testing.T) {
	for _, g := range golden {
		w := encode(g.op, g.d, g.n, g.m)
		if got := binary.LittleEndian.Uint32(g.bytes[:]); w != got {
			t.Errorf("%s: encode = %#08x, want %#08x", g.text, w, got)
		}
		want := "WORD\t$0x" + strconv.FormatUint(uint64(w)|1<<32, 16)[1:] + "\t// " + g.text
		if s := asm(g.op, g.d, g.n, g.m); s != want {
			t.Errorf("asm = %q, want %q", s, want)
		}
	}
	if len(golden) < len(simdOps)+1 {
		t.Errorf("golden table misses ops: %d entries for %d ops", len(golden), len(simdOps))
	}
}

// TestDecodeRoundTrip decodes every op with every register in every field.
func TestDecodeRoundTrip(t *testing.T) {
	for op, o := range simdOps {
		for r := 0; r < 32; r++ {
			d, n, m := r, (r+7)%32, (r+19)%32
			if !o.hasM {
				m = 0
			}
			gop, gd, gn, gm, ok := decode(encode(op, d, n, m))
			if !ok || gop != op || gd != d || gn != n || gm != m {
				t.Fatalf("decode(encode(%s, %d, %d, %d)) = %s %d %d %d %v", op, d, n, m, gop, gd, gn, gm, ok)
			}
		}
	}
}

var wordLine = regexp.MustCompile(`WORD\t\$0x([0-9a-f]{8})\t// ([a-z0-9]+)\tv(\d+)\.\w+, v(\d+)\.\w+(?:, v(\d+)\.\w+)?`)

// TestGeneratedFile checks that simd/tdot_arm64.s is what the generator
// writes now (run go generate in simd/ after changing the generator), and
// that every WORD in it decodes to the instruction its comment names.
func TestGeneratedFile(t *testing.T) {
	const path = "../../tdot_arm64.s"
	committed, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, generate()) {
		t.Fatalf("%s is stale: run `go generate` in simd/", path)
	}
	words := 0
	for _, m := range wordLine.FindAllSubmatch(committed, -1) {
		w, _ := strconv.ParseUint(string(m[1]), 16, 32)
		op, d, n, mm, ok := decode(uint32(w))
		if !ok || simdOps[op].name != string(m[2]) {
			t.Fatalf("WORD %s does not decode to %s", m[1], m[2])
		}
		want := []string{string(m[3]), string(m[4]), string(m[5])}
		got := []string{strconv.Itoa(d), strconv.Itoa(n), ""}
		if simdOps[op].hasM {
			got[2] = strconv.Itoa(mm)
		}
		for i := range want {
			if want[i] != got[i] {
				t.Fatalf("WORD %s (%s): registers %v, comment says %v", m[1], m[2], got, want)
			}
		}
		words++
	}
	if n := bytes.Count(committed, []byte("WORD\t")); n != words || n == 0 {
		t.Fatalf("checked %d of %d WORD lines", words, n)
	}
}
