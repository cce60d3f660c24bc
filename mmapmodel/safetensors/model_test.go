package safetensors_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/speakez/barewire/mmapmodel/safetensors"
	"github.com/speakez/barewire/mmapmodel/safetensors/stwrite"
)

func writeShard(t *testing.T, dir, name string, tensors map[string][]float32) {
	t.Helper()
	w := &stwrite.Writer{}
	keys := make([]string, 0, len(tensors))
	for k := range tensors {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		w.Add(k, safetensors.F32, []uint64{uint64(len(tensors[k]))}, stwrite.F32Bytes(tensors[k]))
	}
	if err := w.WriteFile(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func shardedDir(t *testing.T) string {
	dir := t.TempDir()
	writeShard(t, dir, "model-00001-of-00002.safetensors", map[string][]float32{"a": {1}, "b": {2, 3}})
	writeShard(t, dir, "model-00002-of-00002.safetensors", map[string][]float32{"c": {4}})
	err := stwrite.WriteIndex(filepath.Join(dir, safetensors.IndexFileName),
		map[string]string{"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"},
		map[string]any{"total_size": 16})
	if err != nil {
		t.Fatal(err)
	}
	writeTemp(t, dir, "config.json", []byte(`{}`))
	return dir
}

func TestOpenDirSharded(t *testing.T) {
	dir := shardedDir(t)
	m, err := safetensors.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.ConfigPath != filepath.Join(dir, "config.json") || m.TokenizerPath != "" {
		t.Fatalf("config %q tokenizer %q", m.ConfigPath, m.TokenizerPath)
	}
	if string(m.IndexMetadata["total_size"]) != "16" {
		t.Fatalf("index metadata %s", m.IndexMetadata["total_size"])
	}
	var got []string
	for _, st := range m.Tensors() {
		got = append(got, st.Name+"@"+st.Shard)
	}
	slices.Sort(got)
	want := []string{"a@model-00001-of-00002.safetensors", "b@model-00001-of-00002.safetensors", "c@model-00002-of-00002.safetensors"}
	if !slices.Equal(got, want) {
		t.Fatalf("tensors %v", got)
	}
	f, _ := m.File("c")
	if v, err := f.Float32s("c"); err != nil || v[0] != 4 {
		t.Fatalf("c = %v %v", v, err)
	}
	if d, err := m.TensorData("b"); err != nil || len(d) != 8 {
		t.Fatalf("b: %d bytes, %v", len(d), err)
	}
	if _, err := m.TensorData("z"); !errors.Is(err, safetensors.ErrNotFound) {
		t.Fatalf("z: %v", err)
	}
}

func TestOpenDirSingle(t *testing.T) {
	dir := t.TempDir()
	writeShard(t, dir, safetensors.SingleFileName, map[string][]float32{"w": {1, 2}})
	writeTemp(t, dir, "tokenizer.json", []byte(`{}`))
	// An index beside model.safetensors is ignored: the single file wins.
	writeTemp(t, dir, safetensors.IndexFileName, []byte(`{"weight_map":{"x":"missing.safetensors"}}`))
	m, err := safetensors.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if ti, ok := m.Tensor("w"); !ok || ti.Elements() != 2 || m.TokenizerPath == "" || m.ConfigPath != "" {
		t.Fatalf("w %+v tokenizer %q", ti, m.TokenizerPath)
	}
	if _, err := safetensors.OpenDir(t.TempDir()); !errors.Is(err, safetensors.ErrNotFound) {
		t.Fatalf("empty dir: %v", err)
	}
}

func TestShardErrors(t *testing.T) {
	index := func(t *testing.T, dir, body string) error {
		p := writeTemp(t, dir, safetensors.IndexFileName, []byte(body))
		m, err := safetensors.OpenIndex(p)
		if err == nil {
			m.Close()
		}
		return err
	}
	dir := shardedDir(t)
	os.Remove(filepath.Join(dir, "model-00002-of-00002.safetensors"))
	_, err := safetensors.OpenDir(dir)
	if !errors.Is(err, safetensors.ErrNotFound) || !strings.Contains(err.Error(), `shard "model-00002-of-00002.safetensors" missing`) {
		t.Errorf("shard missing: %v", err)
	}

	dir = t.TempDir()
	writeShard(t, dir, "s1.safetensors", map[string][]float32{"a": {1}, "b": {2}})
	writeShard(t, dir, "s2.safetensors", map[string][]float32{"b": {3}})
	err = index(t, dir, `{"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}}`)
	if !errors.Is(err, safetensors.ErrFormat) || !strings.Contains(err.Error(), `tensor "b" is in both`) {
		t.Errorf("tensor in two shards: %v", err)
	}
	err = index(t, dir, `{"weight_map":{"a":"s1.safetensors","b":"s1.safetensors","b":"s2.safetensors"}}`)
	if !errors.Is(err, safetensors.ErrFormat) || !strings.Contains(err.Error(), `names tensor "b" twice`) {
		t.Errorf("tensor named twice in the weight map: %v", err)
	}
	err = index(t, dir, `{"weight_map":{"a":"s1.safetensors"}}`)
	if !errors.Is(err, safetensors.ErrFormat) || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("unlisted tensor: %v", err)
	}
	err = index(t, dir, `{"weight_map":{"a":"s2.safetensors","b":"s2.safetensors"}}`)
	if !errors.Is(err, safetensors.ErrFormat) || !strings.Contains(err.Error(), `tensor "a" is not in its shard`) {
		t.Errorf("tensor not in its shard: %v", err)
	}
	err = index(t, dir, `{"weight_map":{"a":"../s1.safetensors"}}`)
	if !errors.Is(err, safetensors.ErrFormat) || !strings.Contains(err.Error(), "plain file name") {
		t.Errorf("path traversal: %v", err)
	}
	if err := index(t, dir, `{"weight_map":{}}`); !errors.Is(err, safetensors.ErrFormat) {
		t.Errorf("empty weight map: %v", err)
	}
	if err := index(t, dir, `not json`); !errors.Is(err, safetensors.ErrFormat) {
		t.Errorf("index not JSON: %v", err)
	}
	if err := index(t, dir, `{"weight_map":{"a":1}}`); !errors.Is(err, safetensors.ErrFormat) {
		t.Errorf("weight map value not a string: %v", err)
	}
}
