package update

import (
	"errors"
	"strings"
	"testing"
)

func TestReleaseManifestRoundTrip(t *testing.T) {
	m := newTestRelease("r1", seedsV1).m
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeReleaseManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := got.Encode()
	if string(again) != string(data) {
		t.Fatalf("re-encoding differs:\n%s\n%s", data, again)
	}
	if len(got.Objects()) != 3 {
		t.Fatalf("objects %v", got.Objects())
	}
}

func TestReleaseManifestRefusals(t *testing.T) {
	base := newTestRelease("r1", map[string]uint64{"embed": 1}).m
	c := base.Slots["embed"]
	good, _ := base.Encode()
	sg := string(good)
	for _, tc := range []struct {
		name string
		in   string
		want error
	}{
		{"unknown field", strings.Replace(sg, `"arch"`, `"extra": 1, "arch"`, 1), ErrFormat},
		{"trailing value", sg + "{}", ErrFormat},
		{"wrong format", strings.Replace(sg, ManifestFormat, "barewire-release/9", 1), ErrFormat},
		{"traversal id", strings.Replace(sg, `"id": "r1"`, `"id": "../r1"`, 1), ErrName},
		{"slash in slot", strings.Replace(sg, `"embed"`, `"a/b"`, 1), ErrName},
		{"short hash", strings.Replace(sg, c.SHA256, c.SHA256[:10], 1), ErrFormat},
		{"upper hash", strings.Replace(sg, c.SHA256, strings.ToUpper(c.SHA256), 1), ErrFormat},
		{"zero dim", strings.Replace(sg, "64,", "0,", 1), ErrFormat},
		{"object param", strings.Replace(sg, `"hidden": 64`, `"hidden": {"x":1}`, 1), ErrFormat},
		{"null param", strings.Replace(sg, `"hidden": 64`, `"hidden": null`, 1), ErrFormat},
		{"too big", `{"format":"` + strings.Repeat("x", MaxManifestSize) + `"}`, ErrFormat},
		{"no slots", strings.Replace(sg, `"slots": {`, `"slots": {}, "x": {`, 1), ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.in == sg {
				t.Fatal("replacement did not apply; the case tests nothing")
			}
			_, err := DecodeReleaseManifest([]byte(tc.in))
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSameShapes(t *testing.T) {
	a := newTestRelease("a", seedsV1).m
	b := newTestRelease("b", seedsV2).m
	if err := SameShapes(a, b); err != nil {
		t.Fatal(err)
	}
	if err := SameShapes(nil, b); err != nil {
		t.Fatal(err)
	}
	c := newTestRelease("c", map[string]uint64{"embed": 1, "block0": 2}).m
	if err := SameShapes(a, c); !errors.Is(err, ErrShape) {
		t.Fatalf("missing slot: %v", err)
	}
	d := newTestRelease("d", seedsV1).m
	d.Arch = "bitnet"
	if err := SameShapes(a, d); !errors.Is(err, ErrShape) {
		t.Fatalf("other arch: %v", err)
	}
}

func TestSameTensors(t *testing.T) {
	ts := func(name, dtype string, shape ...int64) TensorShape {
		return TensorShape{Name: name, DType: dtype, Shape: shape}
	}
	served := []TensorShape{ts("emb", "f16", 8, 4), ts("w0", "t2", 4, 4), ts("w1", "t2", 4, 4)}
	rel := func(arch string, slots map[string][]TensorShape) *ReleaseManifest {
		m := &ReleaseManifest{ID: "next", Arch: arch, Slots: map[string]Component{}}
		for name, tensors := range slots {
			m.Slots[name] = Component{Tensors: tensors}
		}
		return m
	}
	ok := rel("bitnet", map[string][]TensorShape{
		"embed":  {ts("emb", "f16", 8, 4)},
		"block0": {ts("w1", "t2", 4, 4), ts("w0", "t2", 4, 4)}, // any order, any split
	})
	if err := SameTensors("the served model", "bitnet", served, ok); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		m    *ReleaseManifest
		want string
	}{
		"arch":      {func() *ReleaseManifest { m := *ok; m.Arch = "mlp"; return &m }(), `arch "mlp", the served model has "bitnet"`},
		"dtype":     {rel("bitnet", map[string][]TensorShape{"a": {ts("emb", "f32", 8, 4), ts("w0", "t2", 4, 4), ts("w1", "t2", 4, 4)}}), `tensor "emb": dtype f32, the served model has f16`},
		"shape":     {rel("bitnet", map[string][]TensorShape{"a": {ts("emb", "f16", 8, 4), ts("w0", "t2", 4, 8), ts("w1", "t2", 4, 4)}}), `tensor "w0": shape [4 8], the served model has [4 4]`},
		"extra":     {rel("bitnet", map[string][]TensorShape{"a": {ts("emb", "f16", 8, 4), ts("w0", "t2", 4, 4), ts("w1", "t2", 4, 4), ts("w2", "t2", 4, 4)}}), `tensor "w2" unknown to the served model`},
		"missing":   {rel("bitnet", map[string][]TensorShape{"a": {ts("emb", "f16", 8, 4), ts("w0", "t2", 4, 4)}}), `tensor "w1" of the served model missing`},
		"duplicate": {rel("bitnet", map[string][]TensorShape{"a": {ts("emb", "f16", 8, 4), ts("w0", "t2", 4, 4)}, "b": {ts("w0", "t2", 4, 4)}}), `tensor "w0" listed twice`},
	} {
		err := SameTensors("the served model", "bitnet", served, c.m)
		if !errors.Is(err, ErrShape) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrShape and %q", name, err, c.want)
		}
	}
}
