//go:build amd64 && gc && !purego && !noasm

package simd

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestEightStreams runs the 2-bit decode tests with every AVX-512 call
// going through the eight-stream kernel (t2DecodeVNNI512x8, which takes the
// rows in multiples of 8, the four-stream kernel the rest), whatever its
// size, and checks it on row counts around its groups of eight, odd and
// even block counts and distant rows.
func TestEightStreams(t *testing.T) {
	old := t2x8MinBytes
	t2x8MinBytes = 0
	defer func() { t2x8MinBytes = old }()
	t.Run("all tiers", TestMatVecT2AllTiers)
	t.Run("long rows", TestMatVecLongRows)
	t.Run("code 3", TestT2Code3Extremes)
	rng := rand.New(rand.NewPCG(8, 8))
	for _, impl := range tierImpls(t) {
		for _, rows := range []int{8, 15, 16, 23, 64, 1000, 1003} {
			for _, k := range []int{128, 256, 384, 2560, 6912} {
				for _, pat := range []pattern{patRandom, patWorstNeg, patWorstPos} {
					c := makeTernaryCase(rng, pat, rows, k, BlockI2B128, 0, 0, PackI2B128)
					want := make([]int32, rows)
					GenericMatVecT2(want, c.packed, c.stride, c.x, c.xsum)
					got := make([]int32, rows)
					impl.MatVecT2(got, c.packed, c.stride, c.x, c.xsum)
					if !slices.Equal(got, want) {
						t.Fatalf("%s rows=%d k=%d pattern %d: differs from generic", impl.Tier, rows, k, pat)
					}
				}
			}
		}
	}
}
