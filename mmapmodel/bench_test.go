package mmapmodel_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/speakez/barewire/mmapmodel"
)

// zeroModel builds (once per benchmark) a sparse model of about size
// bytes in 64 ternary matrices plus 64 f32 vectors: the same header for
// every size, so the benchmark shows Open's cost does not grow with the
// data.
func zeroModel(b testing.TB, size int64) string {
	const n = 64
	cols := int64(4096)
	rowBytes := cols / 128 * 32
	rows := size / n / rowBytes
	var specs []mmapmodel.TensorSpec
	for i := 0; i < n; i++ {
		specs = append(specs,
			mmapmodel.TensorSpec{Name: fmt.Sprintf("blk.%d.weight", i), DType: mmapmodel.T2, Shape: []mmapmodel.Elems{mmapmodel.Elems(rows), mmapmodel.Elems(cols)}, Scale: 1},
			mmapmodel.TensorSpec{Name: fmt.Sprintf("blk.%d.norm", i), DType: mmapmodel.F32, Shape: []mmapmodel.Elems{mmapmodel.Elems(cols)}})
	}
	p := filepath.Join(b.TempDir(), "zero.bwm")
	if err := mmapmodel.WriteZeroModel(p, specs, false); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkOpen measures Open+Close: it must cost O(header), the same for
// 16 MiB and 1 GiB (goal: under 5 ms and 1 MiB of heap).
func BenchmarkOpen(b *testing.B) {
	for _, size := range []int64{16 << 20, 1 << 30} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			p := zeroModel(b, size)
			st, _ := os.Stat(p)
			b.ReportMetric(float64(st.Size())/(1<<20), "file-MiB")
			b.ReportAllocs()
			for b.Loop() {
				m, err := mmapmodel.Open(p)
				if err != nil {
					b.Fatal(err)
				}
				m.Close()
			}
		})
	}
}

// BenchmarkVerify measures the full check (CRC32C, padding, ternary
// codes) over the shipped MLP and a 64 MiB ternary model; the bytes are
// in the page cache after the first pass, so this is the CPU cost.
func BenchmarkVerify(b *testing.B) {
	for _, tc := range []struct {
		name string
		path func(b *testing.B) string
	}{
		{"mlp-tiny", func(*testing.B) string { return shippedFile }},
		{"64MiB", func(b *testing.B) string { return zeroModelVerified(b, 64<<20) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			m, err := mmapmodel.Open(tc.path(b))
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			b.SetBytes(int64(m.Files()[0].Size))
			for b.Loop() {
				if err := m.Verify(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// zeroModelVerified is a zero model with correct CRCs and valid ternary
// codes: all-zero bytes are code 00 (-1) everywhere, which is valid
// except for the row padding, so the rows are exactly 4096 weights.
func zeroModelVerified(b *testing.B, size int64) string {
	const cols = 4096
	rows := size / 16 / (cols / 4)
	var specs []mmapmodel.TensorSpec
	for i := 0; i < 16; i++ {
		specs = append(specs, mmapmodel.TensorSpec{Name: fmt.Sprintf("w%d", i), DType: mmapmodel.T2,
			Shape: []mmapmodel.Elems{mmapmodel.Elems(rows), cols}, Scale: 1})
	}
	p := filepath.Join(b.TempDir(), "zero.bwm")
	if err := mmapmodel.WriteZeroModel(p, specs, true); err != nil {
		b.Fatal(err)
	}
	return p
}

func TestZeroModelVerifies(t *testing.T) {
	var specs []mmapmodel.TensorSpec
	specs = append(specs, mmapmodel.TensorSpec{Name: "w", DType: mmapmodel.T16, Shape: []mmapmodel.Elems{3, 320}, Scale: 1}, // whole blocks: zero bytes are codes 0 (-1), valid except as padding
		mmapmodel.TensorSpec{Name: "h", DType: mmapmodel.I8, Shape: []mmapmodel.Elems{3, 5}, Scales: make([]float32, 3)})
	p := filepath.Join(t.TempDir(), "z.bwm")
	if err := mmapmodel.WriteZeroModel(p, specs, true); err != nil {
		t.Fatal(err)
	}
	m := mustOpen(t, p)
	if err := m.Verify(); err != nil {
		t.Fatal(err)
	}
}
