package mmapmodel_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/speakez/barewire/mmapmodel"
	"github.com/speakez/barewire/mmapmodel/internal/i2b128"
	"github.com/speakez/barewire/mmapmodel/internal/testmodel"
)

func TestShippedMLP(t *testing.T) {
	m := mustOpen(t, shippedFile)
	if m.Kind() != mmapmodel.KindSingle || m.Arch() != "mlp" {
		t.Fatalf("kind %q arch %q", m.Kind(), m.Arch())
	}
	if p, ok := m.Param("hidden_dim"); !ok || p.Type != mmapmodel.ParamInt || p.Int != 64 {
		t.Fatalf("hidden_dim = %+v, %v", p, ok)
	}
	if p, _ := m.Param("activation"); p.Value() != "relu" {
		t.Fatalf("activation = %v", p.Value())
	}
	var slots []string
	for _, c := range m.Components() {
		slots = append(slots, c.Slot)
	}
	if want := []string{"input", "hidden.0", "head"}; !slices.Equal(slots, want) {
		t.Fatalf("slots %v, want %v", slots, want)
	}
	var names []string
	for _, tn := range m.Tensors() {
		names = append(names, fmt.Sprintf("%s:%s:%v", tn.Name, tn.DType, tn.Shape))
		if tn.Offset%mmapmodel.TensorAlign != 0 || tn.ScalesOffset%mmapmodel.TensorAlign != 0 {
			t.Errorf("%s: offset %d / scales %d not aligned", tn.Name, tn.Offset, tn.ScalesOffset)
		}
	}
	want := []string{"input.mean:f32:[784]", "input.inv_std:f32:[784]", "hidden.0.weight:t2:[64 784]",
		"hidden.0.bias:f32:[64]", "head.weight:i8:[10 64]", "head.bias:f32:[10]", "labels:u8:[20]"}
	if !slices.Equal(names, want) {
		t.Fatalf("tensors\n%v\nwant\n%v", names, want)
	}
	if err := m.Verify(); err != nil {
		t.Fatal(err)
	}

	w, _ := m.Tensor("hidden.0.weight")
	tm, err := mmapmodel.NewTernaryMatrix(w)
	if err != nil {
		t.Fatal(err)
	}
	defer tm.Release()
	if tm.Rows != 64 || tm.Cols != 784 || tm.RowBytes != 224 || tm.Scale != 0.0625 || tm.Layout != "i2b128" {
		t.Fatalf("ternary matrix %d×%d rowbytes %d scale %v layout %q", tm.Rows, tm.Cols, tm.RowBytes, tm.Scale, tm.Layout)
	}
	ws, err := i2b128.Unpack(tm.Data(), 64, 784)
	if err != nil {
		t.Fatal(err)
	}
	var zeros int
	for _, v := range ws {
		if v == 0 {
			zeros++
		}
	}
	// testmodel draws zero with probability 1/2: 25088 ± a few hundred.
	if zeros < 24000 || zeros > 26200 {
		t.Fatalf("%d zero weights of %d", zeros, len(ws))
	}

	mean, _ := m.Tensor("input.mean")
	mv, err := mmapmodel.NewView[float32](mean)
	if err != nil {
		t.Fatal(err)
	}
	defer mv.Release()
	if mv.Len() != 784 || mv.Data()[0] != float32(0.1307*255) || mv.Data()[783] != float32(0.1307*255) {
		t.Fatalf("input.mean = %v..%v", mv.Data()[0], mv.Data()[783])
	}
	lt, _ := m.Tensor("labels")
	lv, err := mmapmodel.NewView[uint8](lt)
	if err != nil {
		t.Fatal(err)
	}
	defer lv.Release()
	if got := string(lv.Data()); got != "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n" {
		t.Fatalf("labels = %q", got)
	}
	hw, _ := m.Tensor("head.weight")
	im, err := mmapmodel.NewInt8Matrix(hw)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Release()
	if len(im.Data()) != 640 || len(im.Scales()) != 10 || len(im.Row(9)) != 64 {
		t.Fatalf("int8 matrix %d data %d scales", len(im.Data()), len(im.Scales()))
	}
	for _, s := range im.Scales() {
		if !(s > 1.0/1024 && s < 3.0/1024) {
			t.Fatalf("row scale %v outside (1/1024, 3/1024)", s)
		}
	}
}

func TestReleaseMatchesSingle(t *testing.T) {
	single := mustOpen(t, shippedFile)
	rel := mustOpen(t, shippedRelease)
	if rel.Kind() != mmapmodel.KindRelease || rel.Manifest() == nil || len(rel.Files()) != 3 {
		t.Fatalf("release: kind %q, %d files", rel.Kind(), len(rel.Files()))
	}
	if !slices.Equal(single.Params(), rel.Params()) || single.Arch() != rel.Arch() {
		t.Fatalf("params differ: %v vs %v", single.Params(), rel.Params())
	}
	if err := rel.Verify(); err != nil {
		t.Fatal(err)
	}
	r := rel.VerifyReport()
	for i, f := range r.Files {
		if f.SHA256 != rel.Manifest().Components[i].SHA256 {
			t.Fatalf("file %s hashed to %s", f.Path, f.SHA256)
		}
	}
	if len(single.Tensors()) != len(rel.Tensors()) {
		t.Fatal("tensor counts differ")
	}
	for i, a := range single.Tensors() {
		b := rel.Tensors()[i]
		if a.Name != b.Name || a.Slot != b.Slot || a.DType != b.DType || a.CRC != b.CRC || a.ScalesCRC != b.ScalesCRC || a.Scale != b.Scale || !slices.Equal(a.Shape, b.Shape) {
			t.Fatalf("tensor %d: %+v vs %+v", i, a, b)
		}
		va, err := mmapmodel.NewView[uint8](a)
		if err != nil {
			t.Fatal(err)
		}
		vb, err := mmapmodel.NewView[uint8](b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(va.Data(), vb.Data()) {
			t.Fatalf("tensor %s: bytes differ", a.Name)
		}
		va.Release()
		vb.Release()
	}
}

// TestShippedFilesAreReproducible regenerates testdata/ into a temporary
// directory and compares every byte with the committed files.
func TestShippedFilesAreReproducible(t *testing.T) {
	dir := t.TempDir()
	if err := testmodel.WriteAll(dir); err != nil {
		t.Fatal(err)
	}
	compareFile := func(rel string) {
		got, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("../testdata", rel))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("testdata/%s differs from a fresh build (run go generate ./mmapmodel)", rel)
		}
		if len(want) > 200<<10 {
			t.Errorf("testdata/%s is %d bytes (keep shipped files under 200 KiB)", rel, len(want))
		}
	}
	compareFile(testmodel.MLPFile)
	gotNames, _ := filepath.Glob(filepath.Join(dir, testmodel.MLPRelease, "*"))
	wantNames, _ := filepath.Glob(filepath.Join("../testdata", testmodel.MLPRelease, "*"))
	if len(gotNames) != len(wantNames) || len(gotNames) != 4 {
		t.Fatalf("release has %d files, committed %d", len(gotNames), len(wantNames))
	}
	for _, p := range gotNames {
		compareFile(filepath.Join(testmodel.MLPRelease, filepath.Base(p)))
	}
}

func TestFuzzCorpusIsCurrent(t *testing.T) {
	for target, gen := range map[string]func() (map[string][]byte, error){"FuzzOpen": testmodel.OpenSeeds, "FuzzManifest": testmodel.ManifestSeeds} {
		seeds, err := gen()
		if err != nil {
			t.Fatal(err)
		}
		for name, b := range seeds {
			got, err := os.ReadFile(filepath.Join("testdata/fuzz", target, "seed-"+name))
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b); !bytes.Equal(got, want) {
				t.Errorf("%s/seed-%s is stale (run go generate ./mmapmodel)", target, name)
			}
		}
	}
}

func TestEveryDTypeView(t *testing.T) {
	m, err := openBytes(t, tiny(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Verify(); err != nil {
		t.Fatal(err)
	}
	get := func(name string) *mmapmodel.Tensor {
		tn, err := m.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		return tn
	}
	f16, err := mmapmodel.NewView[mmapmodel.Float16](get("f16"))
	if err != nil || !slices.Equal(f16.Data(), []mmapmodel.Float16{0x3c00, 0xc000}) {
		t.Fatalf("f16 = %v, %v", f16, err)
	}
	bf16, err := mmapmodel.NewView[mmapmodel.BFloat16](get("bf16"))
	if err != nil || !slices.Equal(bf16.Data(), []mmapmodel.BFloat16{0x3f80, 0x4000}) {
		t.Fatalf("bf16 = %v, %v", bf16, err)
	}
	f32, err := mmapmodel.NewView[float32](get("f32"))
	if err != nil || !slices.Equal(f32.Data(), []float32{1, -2, 0.5}) || f32.Size() != 12 {
		t.Fatalf("f32 = %v, %v", f32, err)
	}
	i8, err := mmapmodel.NewInt8Matrix(get("i8"))
	if err != nil || !slices.Equal(i8.Data(), []int8{1, 2, 3, -1, -2, -128}) || !slices.Equal(i8.Scales(), []float32{0.5, 2}) || !slices.Equal(i8.Row(1), []int8{-1, -2, -128}) {
		t.Fatalf("i8 = %+v, %v", i8, err)
	}
	t16, err := mmapmodel.NewTernaryMatrix(get("t16"))
	if err != nil || t16.RowBytes != 32 || t16.Scale != 0.25 || len(t16.Row(0)) != 32 {
		t.Fatalf("t16 = %+v, %v", t16, err)
	}
	t2, err := mmapmodel.NewTernaryMatrix(get("t2"))
	if err != nil || t2.RowBytes != 64 || len(t2.Data()) != 128 {
		t.Fatalf("t2 = %+v, %v", t2, err)
	}
	blob, err := mmapmodel.NewView[uint8](get("blob"))
	if err != nil || string(blob.Data()) != "hello" {
		t.Fatalf("blob = %v, %v", blob, err)
	}
	for _, v := range []interface{ Release() }{f16, bf16, f32, i8, t16, t2, blob} {
		v.Release()
	}
	// Wrong element types are refused, naming the tensor and the dtype.
	_, err = mmapmodel.NewView[float32](get("f16"))
	wantErr(t, err, mmapmodel.ErrType, `tensor "f16"`, "dtype f16 cannot be viewed as float32")
	_, err = mmapmodel.NewView[mmapmodel.Float16](get("bf16"))
	wantErr(t, err, mmapmodel.ErrType, `tensor "bf16"`)
	_, err = mmapmodel.NewView[int8](get("t2"))
	wantErr(t, err, mmapmodel.ErrType, `tensor "t2"`)
	_, err = mmapmodel.NewTernaryMatrix(get("i8"))
	wantErr(t, err, mmapmodel.ErrType, `tensor "i8"`)
	_, err = mmapmodel.NewInt8Matrix(get("t2"))
	wantErr(t, err, mmapmodel.ErrType, `tensor "t2"`)
	_, err = m.Tensor("nope")
	wantErr(t, err, mmapmodel.ErrNotFound, `tensor "nope"`)
	if p, ok := m.Param("eps"); !ok || p.Float != 1e-5 {
		t.Fatalf("eps = %+v", p)
	}
	for _, a := range []mmapmodel.Advice{mmapmodel.AdviseWillNeed, mmapmodel.AdviseSequential, mmapmodel.AdviseRandom, mmapmodel.AdviseNormal} {
		if err := m.Advise(a); err != nil {
			t.Fatalf("Advise(%d): %v", a, err)
		}
	}
}

// TestViewOutlivesClose: Close with live views keeps the mapping; the last
// Release unmaps it.
func TestViewOutlivesClose(t *testing.T) {
	m, err := mmapmodel.Open(writeTemp(t, tiny(t)))
	if err != nil {
		t.Fatal(err)
	}
	tn, _ := m.Tensor("f32")
	v1, err := mmapmodel.NewView[float32](tn)
	if err != nil {
		t.Fatal(err)
	}
	bt, _ := m.Tensor("blob")
	v2, err := mmapmodel.NewView[uint8](bt)
	if err != nil {
		t.Fatal(err)
	}
	if got := mmapmodel.Refs(m); got != 3 {
		t.Fatalf("refs = %d, want 3 (model + two views)", got)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if mmapmodel.Unmapped(m) {
		t.Fatal("unmapped while views are live")
	}
	if _, err := mmapmodel.NewView[float32](tn); !errors.Is(err, mmapmodel.ErrClosed) {
		t.Fatalf("NewView after Close: %v, want ErrClosed", err)
	}
	if got := v1.Data()[1]; got != -2 { // still readable after Close
		t.Fatalf("f32[1] = %v after Close", got)
	}
	v1.Release()
	v1.Release() // idempotent
	if mmapmodel.Unmapped(m) {
		t.Fatal("unmapped while one view is live")
	}
	if string(v2.Data()) != "hello" {
		t.Fatal("blob changed")
	}
	v2.Release()
	if !mmapmodel.Unmapped(m) {
		t.Fatal("still mapped after the last view was released")
	}
	if _, err := mmapmodel.NewView[float32](tn); !errors.Is(err, mmapmodel.ErrClosed) {
		t.Fatalf("NewView after unmap: %v, want ErrClosed", err)
	}
	if err := m.Verify(); !errors.Is(err, mmapmodel.ErrClosed) {
		t.Fatalf("Verify after unmap: %v, want ErrClosed", err)
	}
}

func TestRebindKeepsReference(t *testing.T) {
	m, err := mmapmodel.Open(writeTemp(t, tiny(t)))
	if err != nil {
		t.Fatal(err)
	}
	tn, _ := m.Tensor("f32")
	hv, _ := mmapmodel.NewView[float32](tn)
	uv, err := mmapmodel.UnsafeRebind[mmapmodel.Unified](hv)
	if err != nil {
		t.Fatal(err)
	}
	hv.Release()
	m.Close()
	if mmapmodel.Unmapped(m) || uv.Data()[0] != 1 {
		t.Fatal("rebound view lost its mapping")
	}
	uv.Release()
	if !mmapmodel.Unmapped(m) {
		t.Fatal("still mapped")
	}
	if _, err := mmapmodel.UnsafeRebind[mmapmodel.Device](uv); !errors.Is(err, mmapmodel.ErrClosed) {
		t.Fatalf("rebind of a released view: %v", err)
	}
}

func TestViewAllocations(t *testing.T) {
	m := mustOpen(t, shippedFile)
	tn, _ := m.Tensor("hidden.0.bias")
	allocs := testing.AllocsPerRun(100, func() {
		v, err := mmapmodel.NewView[float32](tn)
		if err != nil {
			panic(err)
		}
		v.Release()
	})
	if allocs > 1 {
		t.Fatalf("NewView allocates %v times, want at most 1 (the view header)", allocs)
	}
}

func TestWriterStreamsExactLengths(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"short", make([]byte, 11), "source ended after 11 of 12 bytes"},
		{"long", make([]byte, 13), "source has more than 12 bytes"},
	} {
		p := filepath.Join(dir, tc.name+".bwm")
		w := mmapmodel.NewWriter(p, "x", nil)
		w.BeginComponent("s")
		w.Add(mmapmodel.TensorSpec{Name: "v", DType: mmapmodel.F32, Shape: []mmapmodel.Elems{3}, Data: bytes.NewReader(tc.data)})
		_, err := w.Commit()
		if err == nil || !strings.Contains(err.Error(), `tensor "v"`) || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Fatalf("%s: left %d files behind", tc.name, len(ents))
		}
	}
}

func TestWriterRefusesBadSpecs(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.bwm")
	for _, tc := range []struct {
		spec mmapmodel.TensorSpec
		want string
	}{
		{mmapmodel.TensorSpec{Name: "a", DType: "q4", Shape: []mmapmodel.Elems{1}}, `dtype "q4" unknown`},
		{mmapmodel.TensorSpec{Name: "a", DType: mmapmodel.T2, Shape: []mmapmodel.Elems{4}}, "needs rank 2"},
		{mmapmodel.TensorSpec{Name: "a", DType: mmapmodel.I8, Shape: []mmapmodel.Elems{2, 2}, Scales: []float32{1}}, "1 row scales for 2 rows"},
		{mmapmodel.TensorSpec{Name: "a", DType: mmapmodel.F32, Shape: []mmapmodel.Elems{1}, Scale: 2}, "no per-tensor scale"},
		{mmapmodel.TensorSpec{Name: "bad name", DType: mmapmodel.F32, Shape: []mmapmodel.Elems{1}}, "byte 0x20"},
	} {
		w := mmapmodel.NewWriter(p, "x", nil)
		w.BeginComponent("s")
		tc.spec.Data = bytes.NewReader(make([]byte, 64))
		w.Add(tc.spec)
		_, err := w.Commit()
		wantErr(t, err, mmapmodel.ErrFormat, tc.want)
	}
}

func TestTensorSize(t *testing.T) {
	for _, tc := range []struct {
		d     mmapmodel.DType
		shape []mmapmodel.Elems
		want  mmapmodel.Bytes
	}{
		{mmapmodel.T2, []mmapmodel.Elems{64, 784}, 64 * 224},
		{mmapmodel.T2, []mmapmodel.Elems{1, 128}, 32},
		{mmapmodel.T2, []mmapmodel.Elems{1, 129}, 64},
		{mmapmodel.T16, []mmapmodel.Elems{3, 160}, 96},
		{mmapmodel.T16, []mmapmodel.Elems{1, 161}, 64},
		{mmapmodel.I8, []mmapmodel.Elems{10, 64}, 640},
		{mmapmodel.F16, []mmapmodel.Elems{2, 3, 4}, 48},
		{mmapmodel.BF16, []mmapmodel.Elems{5}, 10},
		{mmapmodel.F32, []mmapmodel.Elems{7}, 28},
		{mmapmodel.U8, []mmapmodel.Elems{9}, 9},
	} {
		got, err := mmapmodel.TensorSize(tc.d, tc.shape)
		if err != nil || got != tc.want {
			t.Errorf("TensorSize(%s, %v) = %d, %v; want %d", tc.d, tc.shape, got, err, tc.want)
		}
	}
}

// TestTooLargeFor32Bit stands in for GOARCH=arm: a 3 GiB (sparse) file is
// refused before mapping, with the sizes in the message.
func TestTooLargeFor32Bit(t *testing.T) {
	if math.MaxInt > math.MaxInt32 {
		// On a 64-bit platform a sparse model over 4 GiB opens, and its
		// last tensor can be viewed.
		p := zeroModel(t, 5<<30)
		m := mustOpen(t, p)
		if m.Files()[0].Size <= 4<<30 {
			t.Fatalf("model is %d bytes", m.Files()[0].Size)
		}
		last := m.Tensors()[len(m.Tensors())-2]
		v, err := mmapmodel.NewView[uint8](last)
		if err != nil {
			t.Fatal(err)
		}
		if v.Data()[len(v.Data())-1] != 0 || last.Offset < 4<<30 {
			t.Fatalf("last weight tensor at %d", last.Offset)
		}
		v.Release()
	}
	defer mmapmodel.SetMaxMapBytes(math.MaxInt32)()
	p := filepath.Join(t.TempDir(), "big.bwm")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(3 << 30); err != nil {
		f.Close()
		t.Skip("no sparse files here:", err)
	}
	f.Close()
	_, err = mmapmodel.Open(p)
	wantErr(t, err, mmapmodel.ErrTooLarge, p, "file is 3221225472 bytes", "at most 2147483647 bytes")
}

func TestParamsRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "p.bwm")
	params := []mmapmodel.Param{
		mmapmodel.StringParam("z", "ü"), mmapmodel.IntParam("a", -1<<62), mmapmodel.FloatParam("m", math.SmallestNonzeroFloat64),
	}
	w := mmapmodel.NewWriter(p, "x", params)
	w.BeginComponent("s")
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	m := mustOpen(t, p)
	want := []mmapmodel.Param{params[1], params[2], params[0]} // sorted by key
	if !slices.Equal(m.Params(), want) {
		t.Fatalf("params %v, want %v", m.Params(), want)
	}
	b, _ := os.ReadFile(p)
	if len(b) != mmapmodel.PageAlign || binary.LittleEndian.Uint32(b[8:]) != mmapmodel.FormatVersion {
		t.Fatalf("empty model is %d bytes", len(b))
	}
	// Duplicate keys are refused.
	w = mmapmodel.NewWriter(p, "x", []mmapmodel.Param{mmapmodel.IntParam("a", 1), mmapmodel.IntParam("a", 2)})
	w.BeginComponent("s")
	_, err := w.Commit()
	wantErr(t, err, mmapmodel.ErrFormat, "not sorted and unique")
}

// TestConcurrentViewsAndClose races view creation and release against
// Close; afterwards the mapping must be gone (run with -race).
func TestConcurrentViewsAndClose(t *testing.T) {
	m, err := mmapmodel.Open(writeTemp(t, tiny(t)))
	if err != nil {
		t.Fatal(err)
	}
	tn, _ := m.Tensor("f32")
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 2000; i++ {
				v, err := mmapmodel.NewView[float32](tn)
				if err != nil {
					if !errors.Is(err, mmapmodel.ErrClosed) {
						panic(err)
					}
					return
				}
				if v.Data()[0] != 1 {
					panic("bad read")
				}
				v.Release()
			}
		}()
	}
	m.Close()
	for g := 0; g < 4; g++ {
		<-done
	}
	if !mmapmodel.Unmapped(m) {
		t.Fatal("mapping survived Close and the release of every view")
	}
}

func TestRebindMatrices(t *testing.T) {
	m, err := mmapmodel.Open(writeTemp(t, tiny(t)))
	if err != nil {
		t.Fatal(err)
	}
	tt, _ := m.Tensor("t2")
	it, _ := m.Tensor("i8")
	tm, _ := mmapmodel.NewTernaryMatrix(tt)
	im, _ := mmapmodel.NewInt8Matrix(it)
	tu, err := mmapmodel.UnsafeRebindTernary[mmapmodel.Unified](tm)
	if err != nil {
		t.Fatal(err)
	}
	iu, err := mmapmodel.UnsafeRebindInt8[mmapmodel.Unified](im)
	if err != nil {
		t.Fatal(err)
	}
	tm.Release()
	im.Release()
	m.Close()
	if mmapmodel.Unmapped(m) || tu.RowBytes != 64 || len(tu.Row(1)) != 64 || iu.Scales()[1] != 2 || iu.Row(1)[2] != -128 {
		t.Fatal("rebound matrices lost their mapping or shape")
	}
	tu.Release()
	if mmapmodel.Unmapped(m) {
		t.Fatal("unmapped while the int8 view is live")
	}
	iu.Release()
	if !mmapmodel.Unmapped(m) {
		t.Fatal("still mapped")
	}
	if _, err := mmapmodel.UnsafeRebindInt8[mmapmodel.Device](iu); !errors.Is(err, mmapmodel.ErrClosed) {
		t.Fatalf("rebind of a released view: %v", err)
	}
}

func TestWriterMisuse(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.bwm")
	w := mmapmodel.NewWriter(p, "x", nil)
	w.Add(mmapmodel.TensorSpec{Name: "a", DType: mmapmodel.U8, Shape: []mmapmodel.Elems{1}, Data: bytes.NewReader([]byte{1})})
	wantErr(t, w.Err(), mmapmodel.ErrFormat, `tensor "a"`, "before any BeginComponent")
	_, err := w.Commit()
	wantErr(t, err, mmapmodel.ErrFormat, "before any BeginComponent")

	cw := mmapmodel.NewComponentWriter(p, "x", "one")
	cw.BeginComponent("two")
	_, err = cw.Commit()
	wantErr(t, err, mmapmodel.ErrFormat, `cannot add "two"`)

	w = mmapmodel.NewWriter(p, "bad arch!", nil)
	w.BeginComponent("s")
	_, err = w.Commit()
	wantErr(t, err, mmapmodel.ErrFormat, "arch:")

	w = mmapmodel.NewWriter(p, "x", nil)
	w.BeginComponent("s")
	w.Add(mmapmodel.TensorSpec{Name: "h", DType: mmapmodel.I8, Shape: []mmapmodel.Elems{1, 1}, Scales: []float32{float32(math.Inf(1))}, Data: bytes.NewReader([]byte{1})})
	_, err = w.Commit()
	wantErr(t, err, mmapmodel.ErrFormat, `tensor "h"`, "row 0 scale +Inf is not finite")
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("a failed Commit left %s: %v", p, err)
	}
}

func TestOpenNonRegular(t *testing.T) {
	_, err := mmapmodel.Open(os.DevNull)
	wantErr(t, err, mmapmodel.ErrFormat, "not a regular file")
	_, err = mmapmodel.Open(filepath.Join(t.TempDir(), "missing.bwm"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestModelAccessors(t *testing.T) {
	m := mustOpen(t, shippedFile)
	if m.Path() != shippedFile || m.Manifest() != nil {
		t.Fatalf("path %q manifest %v", m.Path(), m.Manifest())
	}
	c, ok := m.Component("head")
	if !ok || c.File != m.Files()[0] || len(c.Tensors) != 3 || c.Tensors[2].Name != "labels" {
		t.Fatalf("head = %+v, %v", c, ok)
	}
	if _, ok := m.Component("nope"); ok {
		t.Fatal("found slot nope")
	}
	if _, ok := m.Param("nope"); ok {
		t.Fatal("found param nope")
	}
	tn, _ := m.Tensor("hidden.0.weight")
	if tn.Rows() != 64 || tn.Cols() != 784 || tn.NumElems() != 64*784 || tn.File().Path != shippedFile {
		t.Fatalf("hidden.0.weight %d×%d", tn.Rows(), tn.Cols())
	}
	for _, p := range m.Params() {
		switch p.Type {
		case mmapmodel.ParamInt:
			if p.Value().(int64) != p.Int {
				t.Fatal(p)
			}
		case mmapmodel.ParamString:
			if p.Value().(string) != p.String {
				t.Fatal(p)
			}
		}
	}
	if v := mmapmodel.FloatParam("f", 1.5).Value(); v != 1.5 {
		t.Fatalf("float value %v", v)
	}
}
