// Package i2b128 packs and unpacks ternary weights in the "i2b128" layout
// of the model format: bitnet.cpp's x86 I2_S block layout
// (ggml-bitnet-mad.cpp, quantize_i2_s). Rows are padded to a multiple of
// 128 weights; each block of 128 weights is 32 bytes; byte j of a block
// holds weights j, j+32, j+64, j+96 in bits 7:6, 5:4, 3:2, 1:0; the code
// is w+1 (00 = -1, 01 = 0, 10 = +1); padding weights are code 01.
package i2b128
