package simd

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Tier names one implementation of the kernels.
type Tier string

// The tiers. Each architecture registers the ones it compiles; a tier is
// available when the CPU has the instructions it uses.
const (
	TierGeneric    Tier = "generic"
	TierAVX2       Tier = "avx2"
	TierAVX512VNNI Tier = "avx512vnni"
	TierAVXVNNI    Tier = "avxvnni"
	TierAMX        Tier = "amx"
	TierNEON       Tier = "neon"
	TierDotProd    Tier = "dotprod"
)

// rank orders tiers from worst to best: Active picks the highest available.
// AMX (the AVX-512 VNNI kernels with prefill on tiles) beats AVX-512 VNNI,
// which beats the VEX-encoded AVX-VNNI (ymm only), which beats AVX2 (no
// dot-product instruction).
var rank = map[Tier]int{
	TierGeneric:    0,
	TierAVX2:       10,
	TierAVXVNNI:    20,
	TierAVX512VNNI: 30,
	TierAMX:        40,
	TierNEON:       10,
	TierDotProd:    20,
}

// Impl is one tier's set of kernels. The integer kernels produce exact int32
// results equal to the Generic* functions; the float ones sum in the fixed
// order described at FloatLanes.
type Impl struct {
	Tier Tier
	// dst[r] = exact dot of weight row r (w[r*stride:]) with x, for r <
	// len(dst); stride is a multiple of 32 and >= blocks*32 where blocks =
	// len(x)/128; len(x) is a multiple of 128.
	MatVecT2 func(dst []int32, w []byte, stride int, x []int8, xsum int32)
	// same for t5b160: len(x) multiple of 160, blocks = len(x)/160.
	MatVecT16 func(dst []int32, w []byte, stride int, x []int8, xsum int32)
	// prefill: ntok tokens, token t's activations at x[t*ldx : t*ldx+k]
	// with sum xsum[t]; results token-major: dst[t*ldd + r] for r < rows.
	MatMulT2 func(dst []int32, ldd int, w []byte, stride int, rows int, x []int8, ldx int, k int, xsum []int32, ntok int)
	// int8 x int8: dst[r] = Σ_c w[r*stride+c]·x[c] for c < len(x); per-row
	// scales are applied by the caller in float.
	MatVecI8 func(dst []int32, w []int8, stride int, x []int8)
	// float: dst[r] = Σ_c f(w[r*stride+c])·x[c] for c < len(x), with f the
	// widening of f16 (F16ToF32) or bf16 (BF16ToF32) bits, or none for
	// float32 weights.
	MatVecF16  func(dst []float32, w []uint16, stride int, x []float32)
	MatVecBF16 func(dst []float32, w []uint16, stride int, x []float32)
	MatVecF32  func(dst []float32, w []float32, stride int, x []float32)
	// four inputs at once, each with exactly MatVecF32's results: see
	// MatVecF32x4 (nil: four MatVecF32 calls).
	MatVecF32x4 func(dst []float32, ldd, rows int, w []float32, stride int, x []float32, ldx, k int)
	// weighted sums of float32 or binary16 rows in column blocks: see
	// WeightedSumF32 (nil:
	// the generic loops).
	WeightedSumF32 func(dst []float32, ldd, cols int, v []float32, ldb int, w []float32, ldw, n, nq int)
	WeightedSumF16 func(dst []float32, ldd, cols int, v []uint16, ldb int, w []float32, ldw, n, nq int)
}

// Generic is the pure-Go reference implementation, always available.
var Generic = Impl{
	Tier:      TierGeneric,
	MatVecT2:  GenericMatVecT2,
	MatVecT16: GenericMatVecT16,
	MatMulT2:  GenericMatMulT2,
	MatVecI8:  GenericMatVecI8,

	MatVecF16:  GenericMatVecF16,
	MatVecBF16: GenericMatVecBF16,
	MatVecF32:  GenericMatVecF32,

	WeightedSumF32: GenericWeightedSumF32,
	WeightedSumF16: GenericWeightedSumF16,
}

// DisableEnv is the environment variable read at start: a comma-separated
// list of tiers not to use (for example "avx512vnni,avx2"), for working
// around a CPU or kernel problem without a rebuild.
const DisableEnv = "BAREWIRE_SIMD_DISABLE"

type entry struct {
	impl      Impl
	available bool
}

var (
	regMu    sync.Mutex
	registry = []entry{{Generic, true}}
	disabled = parseDisableEnv()
	active   atomic.Pointer[Impl]
	envErr   error // a bad DisableEnv value, reported by DisableError
)

func init() { selectActive() }

func parseDisableEnv() map[Tier]bool {
	m := map[Tier]bool{}
	s := os.Getenv(DisableEnv)
	if s == "" {
		return m
	}
	ts, err := ParseTiers(s)
	if err != nil {
		envErr = fmt.Errorf("simd: %s: %w", DisableEnv, err)
	}
	for _, t := range ts {
		if t != TierGeneric {
			m[t] = true
		}
	}
	return m
}

// register adds a tier; each architecture file calls it from init. Nil
// fields fall back to the generic kernels.
func register(impl Impl, available bool) {
	impl = impl.withGeneric()
	regMu.Lock()
	defer regMu.Unlock()
	for _, e := range registry {
		if e.impl.Tier == impl.Tier {
			panic("simd: tier registered twice: " + string(impl.Tier))
		}
	}
	registry = append(registry, entry{impl, available})
	slices.SortStableFunc(registry, func(a, b entry) int { return rank[a.impl.Tier] - rank[b.impl.Tier] })
	selectActiveLocked()
}

func selectActive() {
	regMu.Lock()
	defer regMu.Unlock()
	selectActiveLocked()
}

func selectActiveLocked() {
	best := registry[0].impl
	for _, e := range registry {
		if e.available && !disabled[e.impl.Tier] {
			best = e.impl
		}
	}
	active.Store(&best)
}

// withGeneric fills nil kernels with the generic ones.
func (impl Impl) withGeneric() Impl {
	if impl.Tier == "" {
		impl.Tier = TierGeneric
	}
	if impl.MatVecT2 == nil {
		impl.MatVecT2 = GenericMatVecT2
	}
	if impl.MatVecT16 == nil {
		impl.MatVecT16 = GenericMatVecT16
	}
	if impl.MatMulT2 == nil {
		impl.MatMulT2 = GenericMatMulT2
	}
	if impl.MatVecI8 == nil {
		impl.MatVecI8 = GenericMatVecI8
	}
	if impl.MatVecF16 == nil {
		impl.MatVecF16 = GenericMatVecF16
	}
	if impl.MatVecBF16 == nil {
		impl.MatVecBF16 = GenericMatVecBF16
	}
	if impl.MatVecF32 == nil {
		impl.MatVecF32 = GenericMatVecF32
	}
	if impl.WeightedSumF32 == nil {
		impl.WeightedSumF32 = GenericWeightedSumF32
	}
	if impl.WeightedSumF16 == nil {
		impl.WeightedSumF16 = GenericWeightedSumF16
	}
	return impl
}

// Active returns the best available, enabled tier's kernels.
func Active() Impl { return *active.Load() }

// Tiers lists the tiers usable in this process (compiled in, supported by
// the CPU, not disabled), generic first and the best last.
func Tiers() []Tier {
	regMu.Lock()
	defer regMu.Unlock()
	var ts []Tier
	for _, e := range registry {
		if e.available && !disabled[e.impl.Tier] {
			ts = append(ts, e.impl.Tier)
		}
	}
	return ts
}

// TierInfo describes a compiled-in tier.
type TierInfo struct {
	Tier      Tier
	Available bool // the CPU has the instructions
	Disabled  bool // turned off by SetDisabled or DisableEnv
}

// AllTiers lists every tier compiled into this binary, usable or not.
func AllTiers() []TierInfo {
	regMu.Lock()
	defer regMu.Unlock()
	out := make([]TierInfo, len(registry))
	for i, e := range registry {
		out[i] = TierInfo{e.impl.Tier, e.available, disabled[e.impl.Tier]}
	}
	return out
}

// ImplFor returns a tier's kernels if the tier is usable in this process.
func ImplFor(t Tier) (Impl, bool) {
	regMu.Lock()
	defer regMu.Unlock()
	for _, e := range registry {
		if e.impl.Tier == t && e.available && !disabled[t] {
			return e.impl, true
		}
	}
	return Impl{}, false
}

// ParseTiers parses a comma-separated list of tier names ("avx2,neon").
// Blank items are skipped; an unknown name is an error.
func ParseTiers(s string) ([]Tier, error) {
	var ts []Tier
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(strings.ToLower(f))
		if f == "" {
			continue
		}
		if _, ok := rank[Tier(f)]; !ok {
			return ts, fmt.Errorf("unknown tier %q (known: generic, avx2, avxvnni, avx512vnni, amx, neon, dotprod)", f)
		}
		ts = append(ts, Tier(f))
	}
	return ts, nil
}

// SetDisabled replaces the set of disabled tiers (none when called with no
// arguments) and re-selects Active. It overrides DisableEnv. The generic tier
// cannot be disabled. Impl values obtained earlier keep working.
func SetDisabled(tiers ...Tier) error {
	m := map[Tier]bool{}
	for _, t := range tiers {
		if _, ok := rank[t]; !ok {
			return fmt.Errorf("simd: SetDisabled: unknown tier %q", t)
		}
		if t == TierGeneric {
			return fmt.Errorf("simd: SetDisabled: the generic tier cannot be disabled")
		}
		m[t] = true
	}
	regMu.Lock()
	defer regMu.Unlock()
	disabled = m
	selectActiveLocked()
	return nil
}

// DisableError reports a malformed DisableEnv value seen at start (the valid
// names in it still apply), so a command can warn about it.
func DisableError() error { return envErr }
