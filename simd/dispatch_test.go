package simd

import (
	"slices"
	"testing"
)

func TestGenericAlwaysListed(t *testing.T) {
	ts := Tiers()
	if len(ts) == 0 || ts[0] != TierGeneric {
		t.Fatalf("Tiers() = %v, want generic first", ts)
	}
	if Active().Tier != ts[len(ts)-1] {
		t.Errorf("Active() = %s, want the best listed tier %s", Active().Tier, ts[len(ts)-1])
	}
}

func TestSetDisabled(t *testing.T) {
	defer SetDisabled()
	all := Tiers()
	best := all[len(all)-1]
	if best == TierGeneric {
		t.Skip("only the generic tier is usable here")
	}
	if err := SetDisabled(best); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(Tiers(), best) {
		t.Errorf("%s still listed after SetDisabled", best)
	}
	if Active().Tier == best {
		t.Errorf("Active() still %s", best)
	}
	if _, ok := ImplFor(best); ok {
		t.Errorf("ImplFor(%s) succeeded while disabled", best)
	}
	if err := SetDisabled(); err != nil {
		t.Fatal(err)
	}
	// Re-enabling brings back every usable tier, including any that the
	// environment had disabled, so the best one may now rank above best.
	if !slices.Contains(Tiers(), best) {
		t.Errorf("%s not listed after re-enabling", best)
	}
	if after := Tiers(); Active().Tier != after[len(after)-1] {
		t.Errorf("after re-enabling Active() = %s, want %s", Active().Tier, after[len(after)-1])
	}
	if SetDisabled(TierGeneric) == nil {
		t.Error("generic disabled")
	}
	if SetDisabled("sse9") == nil {
		t.Error("unknown tier accepted")
	}
}

func TestParseTiers(t *testing.T) {
	got, err := ParseTiers(" AVX2, ,avx512vnni")
	if err != nil || !slices.Equal(got, []Tier{TierAVX2, TierAVX512VNNI}) {
		t.Errorf("ParseTiers = %v, %v", got, err)
	}
	if _, err := ParseTiers("avx2,mmx"); err == nil {
		t.Error("unknown name accepted")
	}
}

func TestDisableEnv(t *testing.T) {
	t.Setenv(DisableEnv, "avx2,neon")
	saved := envErr
	defer func() { envErr = saved }()
	m := parseDisableEnv()
	if !m[TierAVX2] || !m[TierNEON] || len(m) != 2 || envErr != nil {
		t.Errorf("parsed %v, err %v", m, envErr)
	}
	t.Setenv(DisableEnv, "avx2,bogus")
	m = parseDisableEnv()
	if !m[TierAVX2] || envErr == nil {
		t.Errorf("bad value: parsed %v, err %v", m, envErr)
	}
}

// Registering a tier with nil fields falls back to generic kernels.
func TestRegisterFillsGeneric(t *testing.T) {
	regMu.Lock()
	saved := slices.Clone(registry)
	regMu.Unlock()
	defer func() {
		regMu.Lock()
		registry = saved
		selectActiveLocked()
		regMu.Unlock()
	}()
	// A tier this architecture does not register.
	var spare Tier
	for _, c := range []Tier{TierDotProd, TierAVX2} {
		if !slices.ContainsFunc(saved, func(e entry) bool { return e.impl.Tier == c }) {
			spare = c
		}
	}
	if spare == "" {
		t.Skip("every tier name is registered")
	}
	register(Impl{Tier: spare}, true)
	impl, ok := ImplFor(spare)
	if !ok || impl.MatVecT2 == nil || impl.MatVecT16 == nil || impl.MatMulT2 == nil || impl.MatVecI8 == nil {
		t.Fatalf("registered tier %s: ok=%v, nil kernels left", spare, ok)
	}
	regMu.Lock()
	registry = slices.Clone(saved)
	regMu.Unlock()
	register(Impl{Tier: spare}, false)
	if _, ok := ImplFor(spare); ok || slices.Contains(Tiers(), spare) {
		t.Error("an unavailable tier is offered")
	}
}
