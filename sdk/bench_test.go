package sdk

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// benchModelPath is a tiny synthetic model, or the model named by
// BAREWIRE_BENCH_MODEL (for example a cached synthetic 2B4T).
func benchModelPath(b *testing.B, name string) string {
	if p := os.Getenv("BAREWIRE_BENCH_MODEL"); p != "" {
		return p
	}
	p := filepath.Join(b.TempDir(), name+".bwm")
	if err := WriteSynthetic(p, name, SyntheticOptions{}); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkDecode measures one decoded token after a prompt of 64 tokens; bytes are the
// weights one token streams.
func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{SyntheticBitNetTiny, SyntheticMMFreeTiny} {
		b.Run(name, func(b *testing.B) {
			m, err := Open(benchModelPath(b, name))
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			s, err := m.NewSession(WithContextLength(64 + 1<<16))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			// Decode at position 64, or at BAREWIRE_BENCH_POS.
			pos := 64
			if v, err := strconv.Atoi(os.Getenv("BAREWIRE_BENCH_POS")); err == nil && v > 0 {
				pos = v
			}
			prompt := make([]int, pos)
			if _, err := s.Forward(ctx, prompt); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(m.WeightBytes())
			tok := []int{1}
			for b.Loop() {
				if s.Pos() == s.ContextLength() {
					s.Reset()
				}
				if _, err := s.Forward(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPrefill measures a 64-token prefill.
func BenchmarkPrefill(b *testing.B) {
	for _, name := range []string{SyntheticBitNetTiny, SyntheticMMFreeTiny} {
		b.Run(name, func(b *testing.B) {
			m, err := Open(benchModelPath(b, name))
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			s, err := m.NewSession(WithContextLength(64))
			if err != nil {
				b.Fatal(err)
			}
			prompt := make([]int, 64)
			b.SetBytes(m.WeightBytes())
			for b.Loop() {
				s.Reset()
				if _, err := s.Forward(context.Background(), prompt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
