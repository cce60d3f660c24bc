package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// File names in a Hugging Face model directory.
const (
	SingleFileName = "model.safetensors"
	IndexFileName  = "model.safetensors.index.json"
	ConfigFileName = "config.json"
	TokenizerName  = "tokenizer.json"
)

// MaxIndexSize bounds model.safetensors.index.json.
const MaxIndexSize = 64 << 20

// Model is a checkpoint made of one or more safetensors files.
type Model struct {
	// Dir is the directory holding the weights.
	Dir string
	// ConfigPath and TokenizerPath are set by OpenDir when config.json and
	// tokenizer.json exist beside the weights.
	ConfigPath, TokenizerPath string
	// IndexMetadata is the index's "metadata" object (nil for one file).
	IndexMetadata map[string]json.RawMessage

	shards []*File
	names  []string // shard file names, parallel to shards
	where  map[string]int
	order  []string
}

// ShardTensor is a tensor and the shard that holds it.
type ShardTensor struct {
	TensorInfo
	Shard string // file name of the shard
}

// OpenDir opens a Hugging Face model directory: model.safetensors if it
// exists, otherwise model.safetensors.index.json and its shards. It also
// records config.json and tokenizer.json when present.
func OpenDir(dir string) (*Model, error) {
	var m *Model
	var err error
	single := filepath.Join(dir, SingleFileName)
	index := filepath.Join(dir, IndexFileName)
	switch {
	case exists(single):
		var f *File
		if f, err = Open(single); err != nil {
			return nil, err
		}
		m = newModel(dir)
		m.add(SingleFileName, f)
	case exists(index):
		if m, err = OpenIndex(index); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("safetensors: %s: neither %s nor %s: %w", dir, SingleFileName, IndexFileName, ErrNotFound)
	}
	if p := filepath.Join(dir, ConfigFileName); exists(p) {
		m.ConfigPath = p
	}
	if p := filepath.Join(dir, TokenizerName); exists(p) {
		m.TokenizerPath = p
	}
	return m, nil
}

func exists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func newModel(dir string) *Model {
	return &Model{Dir: dir, where: map[string]int{}}
}

func (m *Model) add(name string, f *File) {
	m.shards = append(m.shards, f)
	m.names = append(m.names, name)
	for _, t := range f.Tensors() {
		m.where[t.Name] = len(m.shards) - 1
		m.order = append(m.order, t.Name)
	}
}

// OpenIndex opens a sharded checkpoint from its index file
// ({"metadata": {...}, "weight_map": {tensor: shard file}}). Shard names
// must be plain file names in the index's directory. Every tensor of the
// weight map must be in the shard it names, every tensor of a shard must be
// in the weight map, and no tensor may appear twice.
func OpenIndex(path string) (_ *Model, err error) {
	raw, err := readBounded(path, MaxIndexSize)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	m := newModel(dir)
	weightMap := map[string]string{}
	var wmOrder []string
	dec := json.NewDecoder(bytes.NewReader(raw))
	err = objectEntries(dec, func(key string) error {
		switch key {
		case "weight_map":
			return stringMap(dec, func(t, shard string) error {
				if _, dup := weightMap[t]; dup {
					return fmt.Errorf("weight_map names tensor %q twice", t)
				}
				weightMap[t] = shard
				wmOrder = append(wmOrder, t)
				return nil
			})
		case "metadata":
			return dec.Decode(&m.IndexMetadata)
		default:
			var skip json.RawMessage
			return dec.Decode(&skip)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, path, err)
	}
	if len(weightMap) == 0 {
		return nil, fmt.Errorf("%w: %s: weight_map is missing or empty", ErrFormat, path)
	}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	opened := map[string]int{}
	for _, t := range wmOrder {
		shard := weightMap[t]
		if _, ok := opened[shard]; ok {
			continue
		}
		if shard == "" || shard != filepath.Base(shard) || strings.ContainsAny(shard, `/\`) || shard == "." || shard == ".." {
			return nil, fmt.Errorf("%w: %s: tensor %q: shard %q is not a plain file name", ErrFormat, path, t, shard)
		}
		f, err := Open(filepath.Join(dir, shard))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("safetensors: %s: tensor %q: shard %q missing: %w", path, t, shard, ErrNotFound)
		}
		if err != nil {
			return nil, err
		}
		opened[shard] = len(m.shards)
		m.shards = append(m.shards, f)
		m.names = append(m.names, shard)
		for _, ti := range f.Tensors() {
			if prev, dup := m.where[ti.Name]; dup {
				return nil, fmt.Errorf("%w: %s: tensor %q is in both %q and %q", ErrFormat, path, ti.Name, m.names[prev], shard)
			}
			m.where[ti.Name] = len(m.shards) - 1
		}
	}
	for _, t := range wmOrder {
		i, ok := m.where[t]
		if !ok || m.names[i] != weightMap[t] {
			return nil, fmt.Errorf("%w: %s: tensor %q is not in its shard %q", ErrFormat, path, t, weightMap[t])
		}
		m.order = append(m.order, t)
	}
	if len(m.where) != len(weightMap) {
		for name, i := range m.where {
			if _, ok := weightMap[name]; !ok {
				return nil, fmt.Errorf("%w: %s: tensor %q of shard %q is not in the weight_map", ErrFormat, path, name, m.names[i])
			}
		}
	}
	return m, nil
}

func readBounded(path string, limit int64) ([]byte, error) {
	if err := regularFile(path); err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%w: %s is %d bytes, over the %d-byte limit", ErrFormat, path, st.Size(), limit)
	}
	return os.ReadFile(path)
}

// Close unmaps every shard.
func (m *Model) Close() error {
	var errs []error
	for _, f := range m.shards {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// Tensors lists every tensor with its shard, in weight_map (or header) order.
func (m *Model) Tensors() []ShardTensor {
	out := make([]ShardTensor, 0, len(m.order))
	for _, n := range m.order {
		i := m.where[n]
		t, _ := m.shards[i].Tensor(n)
		out = append(out, ShardTensor{TensorInfo: t, Shard: m.names[i]})
	}
	return out
}

// Tensor returns the named tensor's info.
func (m *Model) Tensor(name string) (TensorInfo, bool) {
	i, ok := m.where[name]
	if !ok {
		return TensorInfo{}, false
	}
	return m.shards[i].Tensor(name)
}

// File returns the shard holding the named tensor.
func (m *Model) File(name string) (*File, bool) {
	i, ok := m.where[name]
	if !ok {
		return nil, false
	}
	return m.shards[i], true
}

// TensorData returns the named tensor's bytes (zero-copy, maybe unaligned).
func (m *Model) TensorData(name string) ([]byte, error) {
	f, ok := m.File(name)
	if !ok {
		return nil, fmt.Errorf("safetensors: tensor %q: %w", name, ErrNotFound)
	}
	return f.TensorData(name)
}

// regularFile refuses what is not a regular file before it is opened: a
// FIFO named in an index would block the open for ever.
func regularFile(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file (%v)", ErrFormat, path, st.Mode().Type())
	}
	return nil
}
