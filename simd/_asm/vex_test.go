package main

import (
	"bytes"
	"testing"
)

// Known encodings, from GNU as 2.x ({vex} prefix) and objdump -d.
func TestVEXEncoding(t *testing.T) {
	cases := []struct {
		op              byte
		dst, src1, src2 int
		want            []byte
	}{
		{opDPBUSD, 0, 1, 2, []byte{0xc4, 0xe2, 0x75, 0x50, 0xc2}},   // {vex} vpdpbusd %ymm2,%ymm1,%ymm0
		{opDPBUSD, 12, 9, 15, []byte{0xc4, 0x42, 0x35, 0x50, 0xe7}}, // {vex} vpdpbusd %ymm15,%ymm9,%ymm12
		{opDPWSSD, 0, 1, 2, []byte{0xc4, 0xe2, 0x75, 0x52, 0xc2}},   // {vex} vpdpwssd %ymm2,%ymm1,%ymm0
		{opDPWSSD, 8, 14, 3, []byte{0xc4, 0x62, 0x0d, 0x52, 0xc3}},  // {vex} vpdpwssd %ymm3,%ymm14,%ymm8
	}
	for _, c := range cases {
		if got := vexDP256(c.op, c.dst, c.src1, c.src2); !bytes.Equal(got, c.want) {
			t.Errorf("op %#x dst %d src1 %d src2 %d: got % x, want % x", c.op, c.dst, c.src1, c.src2, got, c.want)
		}
	}
}

func TestVEXRejectsHighRegisters(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("register 16 accepted; VEX cannot encode it")
		}
	}()
	vexDP256(opDPBUSD, 16, 0, 0)
}
