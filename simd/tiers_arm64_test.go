package simd

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestArm64ExpectTiers fails unless the usable tiers are exactly those in
// BAREWIRE_EXPECT_TIERS (comma-separated), when it is set. scripts/test-arm64.sh
// sets it per emulated CPU, so that a qemu or feature-detection change that
// silently drops the NEON or dotprod tier (and with it every test of that
// tier, which skips) fails the run instead of passing. No build tags: under
// purego the expectation is "generic".
func TestArm64ExpectTiers(t *testing.T) {
	got := Tiers()
	t.Logf("usable tiers: %v (all compiled: %v)", got, AllTiers())
	env := os.Getenv("BAREWIRE_EXPECT_TIERS")
	if env == "" {
		t.Skip("BAREWIRE_EXPECT_TIERS not set")
	}
	want, err := ParseTiers(env)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(want)
	sorted := slices.Clone(got)
	slices.Sort(sorted)
	if !slices.Equal(sorted, want) {
		t.Fatalf("usable tiers %v, BAREWIRE_EXPECT_TIERS wants %s", got, strings.Join(strings.Fields(env), ""))
	}
}
