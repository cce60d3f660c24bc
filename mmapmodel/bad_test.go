package mmapmodel_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/speakez/barewire/mmapmodel"
)

// Each test here damages a valid file in one way and checks the error's
// sentinel and that it names the tensor and field involved.

func headerLen(b []byte) int { return int(binary.LittleEndian.Uint32(b[12:])) }

func TestZeroLengthFile(t *testing.T) {
	_, err := openBytes(t, nil)
	wantErr(t, err, mmapmodel.ErrFormat, "preamble", "file is 0 bytes")
}

func TestTruncatedAtEveryBoundary(t *testing.T) {
	good := tiny(t)
	hl := headerLen(good)
	ds := int(mmapmodel.DataStartFor(uint64(hl)))
	cuts := map[string]struct {
		n    int
		want string
	}{
		"inside magic":          {5, "file is 5 bytes, shorter than the 32-byte preamble"},
		"end of magic":          {8, "file is 8 bytes, shorter than the 32-byte preamble"},
		"inside preamble":       {31, "file is 31 bytes, shorter than the 32-byte preamble"},
		"end of preamble":       {32, "header_length: header length"},
		"inside header":         {32 + hl/2, "runs past the end of the file"},
		"one byte before data":  {32 + hl, "data region starts at 4096, past the end"},
		"data region start - 1": {ds - 1, "past the end"},
		"data region start":     {ds, "data_size: header says the data region is"},
	}
	m, err := openBytes(t, good)
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range m.Tensors() {
		cuts["start of "+tn.Name] = struct {
			n    int
			want string
		}{int(tn.Offset), "truncated or extended"}
		cuts["last byte of "+tn.Name] = struct {
			n    int
			want string
		}{int(tn.Offset) + int(tn.Length) - 1, "truncated or extended"}
	}
	for name, c := range cuts {
		t.Run(name, func(t *testing.T) {
			_, err := openBytes(t, good[:c.n])
			wantErr(t, err, mmapmodel.ErrFormat, c.want)
		})
	}
}

func TestTrailingBytes(t *testing.T) {
	_, err := openBytes(t, append(tiny(t), 0))
	wantErr(t, err, mmapmodel.ErrFormat, "data_size", "truncated or extended")
}

func TestWrongMagic(t *testing.T) {
	b := tiny(t)
	copy(b, "GGUF\x03\x00\x00\x00")
	_, err := openBytes(t, b)
	wantErr(t, err, mmapmodel.ErrFormat, "magic:", "not a BAREWire model file")
}

func TestNewerVersion(t *testing.T) {
	b := tiny(t)
	binary.LittleEndian.PutUint32(b[8:], 3)
	_, err := openBytes(t, b)
	wantErr(t, err, mmapmodel.ErrVersion, "format version 3 is newer than this reader (max 1)")
	binary.LittleEndian.PutUint32(b[8:], 0)
	_, err = openBytes(t, b)
	wantErr(t, err, mmapmodel.ErrFormat, "format version 0 is not valid")
}

func TestReservedPreambleBytes(t *testing.T) {
	b := tiny(t)
	b[25] = 1
	_, err := openBytes(t, b)
	wantErr(t, err, mmapmodel.ErrFormat, "reserved", "preamble byte 25")
}

func TestHeaderLengthPastEnd(t *testing.T) {
	b := tiny(t)
	binary.LittleEndian.PutUint32(b[12:], uint32(len(b)))
	_, err := openBytes(t, b)
	wantErr(t, err, mmapmodel.ErrFormat, "header_length", "runs past the end of the file")
	binary.LittleEndian.PutUint32(b[12:], 0xffffffff)
	_, err = openBytes(t, b)
	wantErr(t, err, mmapmodel.ErrFormat, "header_length", "outside 1..16777216")
}

func TestHeaderChecksum(t *testing.T) {
	b := tiny(t)
	b[40] ^= 0x10
	_, err := openBytes(t, b)
	wantErr(t, err, mmapmodel.ErrChecksum, "header_crc", "header CRC32C is")
}

func TestUndecodableHeader(t *testing.T) {
	b := tiny(t)
	hl := headerLen(b)
	// A valid CRC over bytes that are not a header (a MessagePack nil).
	clear(b[32 : 32+hl])
	b[32] = 0xc0
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(b[32:32+hl], crc32.MakeTable(crc32.Castagnoli)))
	_, err := openBytes(t, b)
	wantErr(t, err, mmapmodel.ErrFormat, "header: cannot decode")
}

// headerCase is one header corruption and the error it must produce.
type headerCase struct {
	name   string
	mutate func(h *mmapmodel.HeaderForTest)
	want   []string
}

func runHeaderCases(t *testing.T, cases []headerCase) {
	good := tiny(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := openBytes(t, rewrite(t, good, c.mutate))
			wantErr(t, err, mmapmodel.ErrFormat, c.want...)
		})
	}
}

func TestBadTensorEntries(t *testing.T) {
	tensor := func(h *mmapmodel.HeaderForTest, name string) *mmapmodel.TensorForTest {
		return &h.Tensors[tensorIndex(h, name)]
	}
	runHeaderCases(t, []headerCase{
		{"offset past end", func(h *mmapmodel.HeaderForTest) { tensor(h, "f32").Offset = 1 << 40 },
			[]string{`tensor "f32"`, "offset:", "runs past the end of the file"}},
		{"offset near 2^64", func(h *mmapmodel.HeaderForTest) { tensor(h, "f32").Offset = 1<<64 - 256 },
			[]string{`tensor "f32"`, "offset:", "runs past the end"}},
		{"offset before data", func(h *mmapmodel.HeaderForTest) { tensor(h, "blob").Offset = 0 },
			[]string{`tensor "blob"`, "before the data region"}},
		{"misaligned offset", func(h *mmapmodel.HeaderForTest) { tensor(h, "f32").Offset += 16 },
			[]string{`tensor "f32"`, "offset:", "not a multiple of 256"}},
		{"misaligned scales", func(h *mmapmodel.HeaderForTest) { tensor(h, "i8").ScalesOffset += 4 },
			[]string{`tensor "i8"`, "scales_offset:", "not a multiple of 256"}},
		{"overlapping tensors", func(h *mmapmodel.HeaderForTest) { tensor(h, "f32").Offset = tensor(h, "bf16").Offset },
			[]string{"offset:", "overlap tensor"}},
		{"shape product overflow", func(h *mmapmodel.HeaderForTest) { tensor(h, "f32").Shape = []uint64{1 << 40, 1 << 40} },
			[]string{`tensor "f32"`, "shape:", "overflows"}},
		{"shape product over 2^64", func(h *mmapmodel.HeaderForTest) {
			tensor(h, "blob").Shape = []uint64{1<<63 + 1, 1<<63 + 1, 3}
		}, []string{`tensor "blob"`, "shape:", "overflows"}},
		{"ternary packed size overflow", func(h *mmapmodel.HeaderForTest) { tensor(h, "t2").Shape = []uint64{1 << 62, 1 << 62} },
			[]string{`tensor "t2"`, "shape:", "overflows"}},
		{"zero dimension", func(h *mmapmodel.HeaderForTest) { tensor(h, "f32").Shape = []uint64{0} },
			[]string{`tensor "f32"`, "shape:", "dimension 0 is zero"}},
		{"no dimensions", func(h *mmapmodel.HeaderForTest) { tensor(h, "f32").Shape = nil },
			[]string{`tensor "f32"`, "shape:", "rank 0"}},
		{"length mismatch", func(h *mmapmodel.HeaderForTest) { tensor(h, "f32").Length = 16 },
			[]string{`tensor "f32"`, "length:", "length 16 does not match dtype f32", "want 12"}},
		{"dtype changes length", func(h *mmapmodel.HeaderForTest) { tensor(h, "f32").DType = "f16" },
			[]string{`tensor "f32"`, "length:", "dtype f16"}},
		{"unknown dtype", func(h *mmapmodel.HeaderForTest) { tensor(h, "f32").DType = "q4_k" },
			[]string{`tensor "f32"`, "dtype:", `dtype "q4_k" unknown`}},
		{"unknown layout", func(h *mmapmodel.HeaderForTest) { tensor(h, "t2").Layout = "tl2" },
			[]string{`tensor "t2"`, "layout:", `layout "tl2" unknown`}},
		{"layout of another dtype", func(h *mmapmodel.HeaderForTest) { tensor(h, "t2").Layout = "t5b160" },
			[]string{`tensor "t2"`, "layout:", `does not go with dtype t2`}},
		{"layout on dense dtype", func(h *mmapmodel.HeaderForTest) { tensor(h, "f32").Layout = "i2b128" },
			[]string{`tensor "f32"`, "layout:"}},
		{"ternary rank 1", func(h *mmapmodel.HeaderForTest) { tensor(h, "t16").Shape = []uint64{160} },
			[]string{`tensor "t16"`, "shape:", "needs rank 2"}},
		{"scales length", func(h *mmapmodel.HeaderForTest) { tensor(h, "i8").ScalesLength = 4 },
			[]string{`tensor "i8"`, "scales_length:", "want 8"}},
		{"scales on f32", func(h *mmapmodel.HeaderForTest) { tensor(h, "f32").ScalesLength = 4 },
			[]string{`tensor "f32"`, "scales_offset:", "no row scales"}},
		{"scale on f32", func(h *mmapmodel.HeaderForTest) { tensor(h, "f32").Scale = 1 },
			[]string{`tensor "f32"`, "scale:", "no per-tensor scale"}},
		{"NaN scale", func(h *mmapmodel.HeaderForTest) { tensor(h, "t2").Scale = float32FromBits(0x7fc00000) },
			[]string{`tensor "t2"`, "scale:", "not finite"}},
		{"duplicate names", func(h *mmapmodel.HeaderForTest) { tensor(h, "f32").Name = "blob" },
			[]string{`tensor "blob"`, "name:", "appears twice"}},
		{"empty name", func(h *mmapmodel.HeaderForTest) { tensor(h, "f32").Name = "" },
			[]string{"name:", "empty name"}},
		{"name charset", func(h *mmapmodel.HeaderForTest) { tensor(h, "f32").Name = "a\nb" },
			[]string{"name:", "byte 0x0a at 1"}},
		{"name length", func(h *mmapmodel.HeaderForTest) { tensor(h, "f32").Name = strings.Repeat("x", 300) },
			[]string{"name:", "300 bytes (max 256)"}},
	})
}

func TestBadHeaderFields(t *testing.T) {
	runHeaderCases(t, []headerCase{
		{"data size", func(h *mmapmodel.HeaderForTest) { h.DataSize++ }, []string{"data_size:"}},
		{"kind", func(h *mmapmodel.HeaderForTest) { h.Kind = "bundle" }, []string{"kind:", `kind "bundle" unknown`}},
		{"arch", func(h *mmapmodel.HeaderForTest) { h.Arch = "" }, []string{"arch:", "empty name"}},
		{"component gap", func(h *mmapmodel.HeaderForTest) { h.Components[1].First++ },
			[]string{"components[1].first:", "want 3"}},
		{"component past end", func(h *mmapmodel.HeaderForTest) { h.Components[1].Count += 5 },
			[]string{"components[1].count:", "past the 7 tensors"}},
		{"components short", func(h *mmapmodel.HeaderForTest) { h.Components[1].Count-- },
			[]string{"components:", "cover 6 of 7 tensors"}},
		{"duplicate slot", func(h *mmapmodel.HeaderForTest) { h.Components[1].Slot = "a" },
			[]string{"components[1].slot:", `slot "a" appears twice`}},
		{"no components", func(h *mmapmodel.HeaderForTest) { h.Components = nil }, []string{"components:", "no components"}},
		{"component kind with two", func(h *mmapmodel.HeaderForTest) { h.Kind = "component" },
			[]string{"components:", "exactly one component, found 2"}},
		{"param type", func(h *mmapmodel.HeaderForTest) { h.Params[0].Type = "bool" },
			[]string{"params[eps]:", `type "bool" unknown`}},
		{"param order", func(h *mmapmodel.HeaderForTest) { h.Params[0].Key = "zz" },
			[]string{"not sorted and unique"}},
		{"param NaN", func(h *mmapmodel.HeaderForTest) { h.Params[0].Float = float64FromBits(0x7ff8000000000001) },
			[]string{"params[eps]:", "not finite"}},
	})
}

// TestFlippedDataBit: Open does not read the data, so it succeeds; Verify
// finds the damage and names the tensor.
func TestFlippedDataBit(t *testing.T) {
	b := tiny(t)
	m, err := openBytes(t, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range m.Tensors() {
		t.Run(tn.Name, func(t *testing.T) {
			bad := append([]byte(nil), b...)
			bad[int(tn.Offset)+int(tn.Length)-1] ^= 0x01
			m, err := openBytes(t, bad)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			wantErr(t, m.Verify(), mmapmodel.ErrChecksum, fmt.Sprintf("tensor %q", tn.Name), "crc:", "header says")
		})
	}
	t.Run("scales", func(t *testing.T) {
		tn, _ := m.Tensor("i8")
		bad := append([]byte(nil), b...)
		bad[tn.ScalesOffset] ^= 0x80
		m, err := openBytes(t, bad)
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, m.Verify(), mmapmodel.ErrChecksum, `tensor "i8"`, "scales_crc:")
	})
}

func TestNonZeroPadding(t *testing.T) {
	b := tiny(t)
	m, err := openBytes(t, b)
	if err != nil {
		t.Fatal(err)
	}
	f32, _ := m.Tensor("f32")
	hl := headerLen(b)
	for name, off := range map[string]int{
		"after header":  32 + hl + 1,
		"between":       int(f32.Offset) + int(f32.Length) + 3,
		"before f32":    int(f32.Offset) - 1,
		"last data gap": int(mmapmodel.DataStartFor(uint64(hl))) - 1,
	} {
		t.Run(name, func(t *testing.T) {
			bad := append([]byte(nil), b...)
			bad[off] = 0xAA
			m, err := openBytes(t, bad)
			if err != nil {
				t.Fatal(err)
			}
			wantErr(t, m.Verify(), mmapmodel.ErrFormat, "padding:", fmt.Sprintf("byte %d", off))
		})
	}
}

// TestInvalidTernaryCodes: bytes that checksum correctly but hold codes the
// layout forbids are found by Verify.
func TestInvalidTernaryCodes(t *testing.T) {
	b := tiny(t)
	for _, tc := range []struct {
		tensor string
		at     int // byte within the tensor
		val    byte
		want   string
	}{
		{"t2", 5, 0xC0 | 0x15, "invalid 2-bit code 11"},
		// t2 is 2×130: row 0 weight 130 (padding) lives in block 1, byte 2, bits 7:6.
		{"t2", 32 + 2, 0x15 | 0x80, "row 0 padding weight 130 has code 2"},
		{"t16", 0, 1, "not an encoded 5-trit value"}, // 0 and 2 encode v=0 and v=1; 1 encodes nothing
	} {
		var off int
		bad := rewrite(t, b, func(h *mmapmodel.HeaderForTest) {
			e := &h.Tensors[tensorIndex(h, tc.tensor)]
			off = int(e.Offset)
			data := append([]byte(nil), b[e.Offset:e.Offset+e.Length]...)
			data[tc.at] = tc.val
			binary.LittleEndian.PutUint32(e.CRC[:], crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
		})
		bad[off+tc.at] = tc.val
		m, err := openBytes(t, bad)
		if err != nil {
			t.Fatal(err)
		}
		wantErr(t, m.Verify(), mmapmodel.ErrFormat, fmt.Sprintf("tensor %q", tc.tensor), "data:", tc.want)
	}
}

func TestDirectoryWhereFileExpected(t *testing.T) {
	dir := t.TempDir()
	// A directory without a manifest is not a release.
	_, err := mmapmodel.Open(dir)
	wantErr(t, err, mmapmodel.ErrFormat, "release manifest is missing")
	if err := os.Mkdir(filepath.Join(dir, "manifest.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = mmapmodel.Open(dir)
	wantErr(t, err, mmapmodel.ErrFormat, "manifest.json", "is a directory; a file is expected")
}

func TestFileWhereDirectoryExpected(t *testing.T) {
	p := writeTemp(t, tiny(t))
	_, err := mmapmodel.Open(filepath.Join(p, "manifest.json"))
	if err == nil || !errors.Is(err, fs.ErrNotExist) && !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("Open(file/manifest.json) = %v", err)
	}
	// A manifest opened as if it were a model file.
	_, err = mmapmodel.Open(filepath.Join(shippedRelease, "manifest.json"))
	wantErr(t, err, mmapmodel.ErrFormat, "magic")
}

func float32FromBits(u uint32) float32 { return mathFloat32frombits(u) }
func float64FromBits(u uint64) float64 { return mathFloat64frombits(u) }

// TestDuplicateHeaderKey: a header map with a key twice is refused (the
// second value could otherwise silently win).
func TestDuplicateHeaderKey(t *testing.T) {
	b := tiny(t)
	hl := headerLen(b)
	h := b[32 : 32+hl]
	// The header starts with a map of 6 entries whose first key is "kind"
	// (0xa4 "kind"); rename the second key, "arch" (0xa4 "arch"), to "kind".
	i := strings.Index(string(h), "\xa4arch")
	if h[0] != 0x86 || !strings.HasPrefix(string(h[1:]), "\xa4kind") || i < 0 {
		t.Fatalf("unexpected header start % x", h[:12])
	}
	copy(h[i+1:], "kind")
	binary.LittleEndian.PutUint32(b[16:], crc32.Checksum(h, crc32.MakeTable(crc32.Castagnoli)))
	_, err := openBytes(t, b)
	wantErr(t, err, mmapmodel.ErrFormat, "header: cannot decode")
}
