package simd

// Argmax returns the index of the largest value of x, ties to the lowest
// index (−0 and +0 tie); a NaN is never chosen unless x[0] is one, which
// nothing beats; an empty x gives 0. This is greedy decoding's choice from
// a vocabulary's logits (128256 of them for LLaMA-3 vocabularies), so with
// AVX-512 or NEON the whole multiples of 64 go through a vector loop of 64
// running maxima (argmaxVec); the answer is the same either way.
func Argmax(x []float32) int {
	if len(x) == 0 {
		return 0
	}
	best, v := 0, x[0]
	i := 0
	if main := len(x) &^ 63; normVec && main > 0 {
		// Lane l holds the first largest of the values at i ≡ l (mod
		// 64), starting from x[0] at index 0.
		var lv [64]float32
		var li [64]int32
		for l := range lv {
			lv[l] = x[0]
		}
		argmaxVec(&x[0], main, &lv, &li)
		for l := range lv {
			if lv[l] > v || lv[l] == v && int(li[l]) < best {
				best, v = int(li[l]), lv[l]
			}
		}
		i = main
	}
	// Four running maxima (ids ≡ lane mod 4) from here on, each the first
	// of its lane: independent compare chains.
	bi := [4]int{best, best, best, best}
	bv := [4]float32{v, v, v, v}
	for ; i+4 <= len(x); i += 4 {
		q := x[i : i+4 : i+4]
		if q[0] > bv[0] {
			bi[0], bv[0] = i, q[0]
		}
		if q[1] > bv[1] {
			bi[1], bv[1] = i+1, q[1]
		}
		if q[2] > bv[2] {
			bi[2], bv[2] = i+2, q[2]
		}
		if q[3] > bv[3] {
			bi[3], bv[3] = i+3, q[3]
		}
	}
	for ; i < len(x); i++ {
		if l := i & 3; x[i] > bv[l] {
			bi[l], bv[l] = i, x[i]
		}
	}
	best, v = bi[0], bv[0]
	for l := 1; l < 4; l++ {
		if bv[l] > v || bv[l] == v && bi[l] < best {
			best, v = bi[l], bv[l]
		}
	}
	return best
}
