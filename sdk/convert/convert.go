package convert

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/speakez/barewire/mmapmodel"
	"github.com/speakez/barewire/mmapmodel/gguf"
	"github.com/speakez/barewire/mmapmodel/safetensors"
	"github.com/speakez/barewire/mmapmodel/ternary"
	"github.com/speakez/barewire/sdk"
)

// Sentinel errors; the messages that wrap them name the key, tensor or
// architecture at fault.
var (
	// ErrUnknownArch: the input's architecture is not one the importer
	// recognises.
	ErrUnknownArch = errors.New("convert: unknown architecture")
	// ErrUnknownTensor: the input holds a tensor the architecture's name
	// table does not list.
	ErrUnknownTensor = errors.New("convert: unknown tensor")
	// ErrUnsupported: recognised, but the runtime cannot represent it.
	ErrUnsupported = errors.New("convert: unsupported")
	// ErrInput: the input is malformed or inconsistent (a missing or
	// mistyped key, a tensor of the wrong shape or type).
	ErrInput = errors.New("convert: invalid input")
)

// TernaryFormat is the dtype ternary weights are written in.
type TernaryFormat string

// HeadFormat is the dtype of the embedding table and of an untied
// full-precision output head.
type HeadFormat string

const (
	// Ternary2 writes t2 (2 bits per weight, the i2b128 kernel layout).
	Ternary2 TernaryFormat = "2"
	// Ternary16 writes t1.6 (5 weights per byte, the t5b160 layout).
	Ternary16 TernaryFormat = "1.6"
	// HeadInt8 writes i8 with one f32 scale per row (max|w|/127).
	HeadInt8 HeadFormat = "int8"
	// HeadF16 writes IEEE half precision.
	HeadF16 HeadFormat = "f16"
)

// Options controls Convert. The zero value converts with the defaults.
type Options struct {
	// From is the input container: "auto" or "" (by extension, directory or
	// magic), "gguf" or "safetensors".
	From string
	// Ternary is Ternary2 (default) or Ternary16.
	Ternary TernaryFormat
	// Head is HeadInt8 (default) or HeadF16.
	Head HeadFormat
	// I2SLayout is the layout of the input's I2_S tensors, "x86" or "arm";
	// "" decides from evidence in the file and otherwise refuses
	// (ternary.ErrAmbiguousLayout), because the file does not record it.
	I2SLayout string
	// Activation overrides the FFN activation ("relu2" or "silu") where the
	// input cannot say (a GGUF of arch "bitnet"). "" decides as documented.
	Activation string
	// Progress, when set, is called when the first output tensor starts,
	// then at most every ProgressInterval (default 500 ms), and once when
	// the file is written and verified (with Name "").
	Progress         func(Progress)
	ProgressInterval time.Duration
}

// Progress is a conversion's position.
type Progress struct {
	Tensor, Tensors   int    // 1-based index of the tensor being written, and the count
	Name              string // its name
	Bytes, TotalBytes int64  // tensor bytes written so far, and in all
	Elapsed           time.Duration
}

// Summary describes a finished conversion.
type Summary struct {
	Input, Output  string
	Container      string // "gguf" or "safetensors"
	Model          string // the recognised model family, e.g. "BitNet b1.58 (2B4T, HF packed)"
	Arch           string // the runtime architecture written
	Params         []mmapmodel.Param
	Tensors        int
	FileBytes      int64
	TernaryWeights int64   // ternary weights written
	TernaryBytes   int64   // their packed bytes
	BitsPerWeight  float64 // 8·TernaryBytes/TernaryWeights
	Tokenizer      string  // tokenizer kind and size, "" if none
	SHA256         string
	Elapsed        time.Duration
	Notes          []string // decisions worth knowing (layout evidence, activation, ignored tensors)
}

// resolved holds the options after defaults, and what preparing the plan
// consumes.
type resolved struct {
	ternary  TernaryFormat
	head     HeadFormat
	i2s      ternary.I2SLayout
	hfScale  ternary.HFScaleKind
	act      string
	consumed map[string]bool
}

func resolve(o Options) (*resolved, error) {
	r := &resolved{ternary: o.Ternary, head: o.Head, hfScale: ternary.HFScaleReciprocal, act: o.Activation, consumed: map[string]bool{}}
	switch r.ternary {
	case "", "2", "t2":
		r.ternary = Ternary2
	case "1.6", "t1.6":
		r.ternary = Ternary16
	default:
		return nil, fmt.Errorf("ternary format %q, want 2 or 1.6", o.Ternary)
	}
	switch r.head {
	case "", "int8", "i8":
		r.head = HeadInt8
	case "f16":
		r.head = HeadF16
	default:
		return nil, fmt.Errorf("head format %q, want int8 or f16", o.Head)
	}
	if o.I2SLayout != "" {
		l, err := ternary.ParseI2SLayout(o.I2SLayout)
		if err != nil {
			return nil, err
		}
		r.i2s = l
	}
	if r.act != "" && r.act != "relu2" && r.act != "silu" {
		return nil, fmt.Errorf("activation %q, want relu2 or silu", r.act)
	}
	return r, nil
}

// Convert imports the checkpoint at in (a .gguf file, a .safetensors file,
// a model.safetensors.index.json, or a Hugging Face model directory) and
// writes the runtime's model file at out. Everything about the input is
// checked before out is touched: an unknown architecture or tensor, a
// wrong shape, an ambiguous I2_S layout or a bad scale leaves no file. The
// output is written through mmapmodel's Writer (a temporary file renamed
// into place), one tensor at a time, each produced a chunk of rows at a time
// from the memory-mapped input, so memory stays bounded by about one
// megabyte of rows plus the row scales and norm vectors, not by the model.
// A cancelled ctx stops the writing and leaves no file. The written file is
// verified (every checksum) before Convert returns.
func Convert(ctx context.Context, in, out string, opts Options) (*Summary, error) {
	start := time.Now()
	o, err := resolve(opts)
	if err != nil {
		return nil, err
	}
	if ai, err1 := filepath.Abs(in); err1 == nil {
		if ao, err2 := filepath.Abs(out); err2 == nil && ai == ao {
			return nil, fmt.Errorf("output %s is the input", out)
		}
	}
	p, c, err := open(in, opts.From, o)
	if err != nil {
		return nil, err
	}
	defer c.close()
	for _, t := range p.tensors {
		if err := t.prepare(c, o); err != nil {
			return nil, fmt.Errorf("%s: %w", in, inputErr(err))
		}
		o.consumed[t.src] = true
	}
	for _, t := range c.tensors {
		if o.consumed[t.name] {
			continue
		}
		if why, ok := p.ignored[t.name]; ok {
			p.notes = append(p.notes, fmt.Sprintf("tensor %q not converted: %s", t.name, why))
			continue
		}
		return nil, fmt.Errorf("%s: tensor %s is not part of %s as the importer knows it: %w", in, t, p.family, ErrUnknownTensor)
	}

	if err := p.checkVocab(); err != nil {
		return nil, fmt.Errorf("%s: %w: %w", in, ErrInput, err)
	}

	// Nothing below depends on the input's validity any more.
	w := mmapmodel.NewWriter(out, p.arch, p.params)
	k := &tracker{ctx: ctx, fn: opts.Progress, interval: opts.ProgressInterval, start: start}
	if k.interval <= 0 {
		k.interval = 500 * time.Millisecond
	}
	sum := &Summary{Input: in, Output: out, Container: c.kind, Model: p.family, Arch: p.arch, Params: p.params, Notes: p.notes}
	slot := ""
	n := len(p.tensors)
	if p.tok != nil {
		n++
	}
	if p.chat != "" {
		n++
	}
	k.p.Tensors = n
	for i, t := range p.tensors {
		if t.slot != slot {
			w.BeginComponent(t.slot)
			slot = t.slot
		}
		spec := mmapmodel.TensorSpec{Name: t.name, Data: t.reader(k, i, o)}
		switch t.role {
		case roleNorm, roleVector:
			spec.DType, spec.Shape = mmapmodel.F32, []mmapmodel.Elems{mmapmodel.Elems(t.cols)}
		case roleEmbed, roleHead:
			spec.Shape = []mmapmodel.Elems{mmapmodel.Elems(t.rows), mmapmodel.Elems(t.cols)}
			spec.DType = mmapmodel.F16
			if o.head == HeadInt8 {
				spec.DType, spec.Scales = mmapmodel.I8, t.rowScales
			}
		case roleTernary:
			spec.Shape = []mmapmodel.Elems{mmapmodel.Elems(t.rows), mmapmodel.Elems(t.cols)}
			spec.DType, spec.Scale = mmapmodel.T2, t.gamma
			if o.ternary == Ternary16 {
				spec.DType = mmapmodel.T16
			}
			size, err := mmapmodel.TensorSize(spec.DType, spec.Shape)
			if err != nil {
				return nil, fmt.Errorf("tensor %q: %w", t.name, err)
			}
			sum.TernaryWeights += int64(t.rows) * int64(t.cols)
			sum.TernaryBytes += int64(size)
		}
		size, err := mmapmodel.TensorSize(spec.DType, spec.Shape)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", t.name, err)
		}
		k.p.TotalBytes += int64(size)
		w.Add(spec)
	}
	if p.tok != nil || p.chat != "" {
		w.BeginComponent(sdk.SlotTokenizer)
		index := len(p.tensors)
		for _, blob := range []struct {
			name string
			b    []byte
		}{{sdk.TensorTokenizer, p.tok}, {TensorChatTemplate, []byte(p.chat)}} {
			if len(blob.b) == 0 {
				continue
			}
			k.p.TotalBytes += int64(len(blob.b))
			w.Add(mmapmodel.TensorSpec{Name: blob.name, DType: mmapmodel.U8, Shape: []mmapmodel.Elems{mmapmodel.Elems(len(blob.b))},
				Data: &blobReader{k: k, index: index, name: blob.name, b: blob.b}})
			index++
		}
	}
	wr, err := w.Commit()
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: conversion cancelled, nothing written: %w", out, ctx.Err())
		}
		return nil, err
	}
	if err := verify(wr.Path); err != nil {
		os.Remove(wr.Path)
		return nil, fmt.Errorf("%s: written file failed verification and was removed: %w", wr.Path, err)
	}
	k.p.Tensor, k.p.Name = n, ""
	k.report(true)
	sum.Tensors, sum.FileBytes, sum.SHA256 = n, int64(wr.Size), wr.SHA256
	if sum.TernaryWeights > 0 {
		sum.BitsPerWeight = 8 * float64(sum.TernaryBytes) / float64(sum.TernaryWeights)
	}
	sum.Tokenizer = p.tokDesc
	sum.Elapsed = time.Since(start)
	return sum, nil
}

// TensorChatTemplate is the u8 tensor, in the tokenizer slot, holding the
// input's chat template (GGUF tokenizer.chat_template or the
// chat_template of tokenizer_config.json) as UTF-8, when it has one.
const TensorChatTemplate = "chat_template"

func verify(path string) error {
	m, err := mmapmodel.Open(path)
	if err != nil {
		return err
	}
	defer m.Close()
	return m.Verify()
}

// inputErr marks an error as ErrInput unless it already carries one of the
// package's sentinels.
func inputErr(err error) error {
	for _, s := range []error{ErrUnknownArch, ErrUnknownTensor, ErrUnsupported, ErrInput, ternary.ErrAmbiguousLayout} {
		if errors.Is(err, s) {
			return err
		}
	}
	return fmt.Errorf("%w: %w", ErrInput, err)
}

type blobReader struct {
	k     *tracker
	index int
	name  string
	b     []byte
	begun bool
}

func (r *blobReader) Read(p []byte) (int, error) {
	if !r.begun {
		r.begun = true
		r.k.begin(r.index, r.name)
	}
	if err := r.k.ctx.Err(); err != nil {
		return 0, err
	}
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	r.k.add(n)
	return n, nil
}

// open recognises the input and builds the plan.
func open(in, from string, o *resolved) (*plan, *container, error) {
	st, err := os.Stat(in)
	if err != nil {
		return nil, nil, err
	}
	kind := from
	if kind == "" || kind == "auto" {
		switch {
		case st.IsDir():
			kind = "safetensors"
		case strings.HasSuffix(in, ".gguf"):
			kind = "gguf"
		case strings.HasSuffix(in, ".safetensors") || strings.HasSuffix(in, ".json"):
			kind = "safetensors"
		default:
			kind = sniff(in)
		}
	}
	switch kind {
	case "gguf":
		if st.IsDir() {
			return nil, nil, fmt.Errorf("%s is a directory, not a GGUF file", in)
		}
		f, err := gguf.Open(in)
		if errors.Is(err, gguf.ErrUnsupported) { // a GGUF this runtime does not read: another version or tensor type (TL1/TL2, K-quants)
			return nil, nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrInput, err)
		}
		p, c, err := planGGUF(in, f, o)
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		c.closeFn = f.Close
		return p, c, nil
	case "safetensors":
		c, dir, err := openSafetensors(in, st.IsDir())
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrInput, err)
		}
		p, err := planHF(in, dir, c, o)
		if err != nil {
			c.close()
			return nil, nil, err
		}
		return p, c, nil
	}
	return nil, nil, fmt.Errorf("%s: input format %q, want auto, gguf or safetensors", in, from)
}

// sniff tells GGUF from safetensors by the first four bytes.
func sniff(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "safetensors"
	}
	defer f.Close()
	var b [4]byte
	if _, err := io.ReadFull(f, b[:]); err == nil && string(b[:]) == gguf.Magic {
		return "gguf"
	}
	return "safetensors"
}

// openSafetensors opens a directory, an index or one file, and returns the
// directory that holds config.json and the tokenizer files.
func openSafetensors(in string, isDir bool) (*container, string, error) {
	switch {
	case isDir:
		m, err := safetensors.OpenDir(in)
		if err != nil {
			return nil, "", err
		}
		c, err := safetensorsContainer(shardInfos(m), m.TensorData, m.Close)
		return c, in, err
	case strings.HasSuffix(in, ".json"):
		m, err := safetensors.OpenIndex(in)
		if err != nil {
			return nil, "", err
		}
		c, err := safetensorsContainer(shardInfos(m), m.TensorData, m.Close)
		return c, filepath.Dir(in), err
	}
	f, err := safetensors.Open(in)
	if err != nil {
		return nil, "", err
	}
	c, err := safetensorsContainer(f.Tensors(), f.TensorData, f.Close)
	return c, filepath.Dir(in), err
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	slices.Sort(k)
	return k
}
