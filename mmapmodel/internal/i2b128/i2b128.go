package i2b128

import "fmt"

// RowBytes is the packed size of a row of k weights.
func RowBytes(k int) int { return (k + 127) / 128 * 32 }

// Pack packs rows×k weights (row-major, each -1, 0 or +1).
func Pack(w []int8, rows, k int) ([]byte, error) {
	if rows < 0 || k < 0 || len(w) != rows*k {
		return nil, fmt.Errorf("i2b128: %d weights for %d×%d", len(w), rows, k)
	}
	rb := RowBytes(k)
	out := make([]byte, rows*rb)
	for r := 0; r < rows; r++ {
		row := out[r*rb : (r+1)*rb]
		for i := 0; i < rb*4; i++ {
			code := byte(1)
			if i < k {
				v := w[r*k+i]
				if v < -1 || v > 1 {
					return nil, fmt.Errorf("i2b128: weight (%d, %d) is %d, not ternary", r, i, v)
				}
				code = byte(v + 1)
			}
			q := i % 128
			row[i/128*32+q%32] |= code << (6 - 2*(q/32))
		}
	}
	return out, nil
}

// Unpack is the inverse of Pack. It returns an error on the invalid code 11.
func Unpack(b []byte, rows, k int) ([]int8, error) {
	rb := RowBytes(k)
	if rows < 0 || k < 0 || len(b) != rows*rb {
		return nil, fmt.Errorf("i2b128: %d bytes for %d×%d (want %d)", len(b), rows, k, rows*rb)
	}
	w := make([]int8, rows*k)
	for r := 0; r < rows; r++ {
		for i := 0; i < k; i++ {
			q := i % 128
			code := b[r*rb+i/128*32+q%32] >> (6 - 2*(q/32)) & 3
			if code == 3 {
				return nil, fmt.Errorf("i2b128: weight (%d, %d) has invalid code 11", r, i)
			}
			w[r*k+i] = int8(code) - 1
		}
	}
	return w, nil
}
