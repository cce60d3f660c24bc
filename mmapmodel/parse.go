package mmapmodel

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"unicode/utf8"
)

// Kind says whether a file holds one component or all of a model's.
type Kind string

const (
	// KindComponent: the tensors of one slot; part of a release directory.
	KindComponent Kind = "component"
	// KindSingle: every component of a model in one file.
	KindSingle Kind = "single"
)

// ParamType is the type of a hyper-parameter's value.
type ParamType string

const (
	ParamInt    ParamType = "int"
	ParamFloat  ParamType = "float"
	ParamString ParamType = "string"
)

// MaxParams bounds the hyper-parameters of one file or manifest.
const MaxParams = 256

// Param is one typed hyper-parameter (architecture configuration such as
// "hidden_dim" = 64). Only the field matching Type is meaningful.
type Param struct {
	Key    string
	Type   ParamType
	Int    int64
	Float  float64
	String string
}

// IntParam, FloatParam and StringParam build a Param of each type.
func IntParam(key string, v int64) Param     { return Param{Key: key, Type: ParamInt, Int: v} }
func FloatParam(key string, v float64) Param { return Param{Key: key, Type: ParamFloat, Float: v} }
func StringParam(key, v string) Param        { return Param{Key: key, Type: ParamString, String: v} }

// Value returns the parameter's value as int64, float64 or string.
func (p Param) Value() any {
	switch p.Type {
	case ParamInt:
		return p.Int
	case ParamFloat:
		return p.Float
	}
	return p.String
}

// checkParams validates a parameter list; keys must be valid names, sorted
// and unique (sorted so that equal configurations encode to equal bytes).
func checkParams(path string, ps []Param) error {
	if len(ps) > MaxParams {
		return formatErr(path, "", "params", "%d parameters (max %d)", len(ps), MaxParams)
	}
	for i, p := range ps {
		field := "params[" + p.Key + "]"
		if msg := checkName(p.Key); msg != "" {
			return formatErr(path, "", fmt.Sprintf("params[%d].key", i), "%s", msg)
		}
		if i > 0 && ps[i-1].Key >= p.Key {
			return formatErr(path, "", field, "keys not sorted and unique (%q then %q)", ps[i-1].Key, p.Key)
		}
		switch p.Type {
		case ParamInt:
			if p.Float != 0 || p.String != "" {
				return formatErr(path, "", field, "int parameter also carries a float or string value")
			}
		case ParamFloat:
			if math.IsNaN(p.Float) || math.IsInf(p.Float, 0) {
				return formatErr(path, "", field, "float value %v is not finite", p.Float)
			}
			if p.Int != 0 || p.String != "" {
				return formatErr(path, "", field, "float parameter also carries an int or string value")
			}
		case ParamString:
			if len(p.String) > MaxParamStringLen {
				return formatErr(path, "", field, "string value is %d bytes (max %d)", len(p.String), MaxParamStringLen)
			}
			if !utf8.ValidString(p.String) {
				return formatErr(path, "", field, "string value is not valid UTF-8")
			}
			if p.Int != 0 || p.Float != 0 {
				return formatErr(path, "", field, "string parameter also carries an int or float value")
			}
		default:
			return formatErr(path, "", field, "type %q unknown (want int, float or string)", truncate(string(p.Type)))
		}
	}
	return nil
}

// extent is one checksummed byte range of the data region.
type extent struct {
	off, len uint64
	crc      uint32
	tensor   int  // index into header.Tensors
	scales   bool // the int8 row scales rather than the data
}

// fileLayout is a validated header plus what was derived from it.
type fileLayout struct {
	version   uint32
	headerLen uint64
	dataStart uint64
	size      uint64
	hdr       header
	params    []Param
	extents   []extent // sorted by offset, non-overlapping
}

// maxMapBytes is the largest file this platform can map: math.MaxInt is
// 2^31-1 on 32-bit platforms, where a file over 2 GiB cannot be one slice.
// A variable so tests can stand in for a 32-bit platform.
var maxMapBytes uint64 = math.MaxInt

func checkMappable(path string, size uint64) error {
	if size > maxMapBytes {
		return &Error{Path: path, Field: "size", Err: ErrTooLarge,
			Msg: fmt.Sprintf("file is %d bytes; this platform maps at most %d bytes in one piece (use a 64-bit build)", size, maxMapBytes)}
	}
	return nil
}

// parse validates the preamble and header of a file whose bytes are b (the
// whole mapping). It reads b[:PreambleSize+headerLen] only.
func parse(path string, b []byte) (*fileLayout, error) {
	size := uint64(len(b))
	if size < PreambleSize {
		return nil, formatErr(path, "", "preamble", "file is %d bytes, shorter than the %d-byte preamble", size, PreambleSize)
	}
	if [8]byte(b[:8]) != magic {
		return nil, formatErr(path, "", "magic", "bytes % x are not a BAREWire model file's magic % x", b[:8], magic[:])
	}
	var p preamble
	p.version = binary.LittleEndian.Uint32(b[8:])
	p.headerLen = binary.LittleEndian.Uint32(b[12:])
	p.headerCRC = binary.LittleEndian.Uint32(b[16:])
	if p.version == 0 {
		return nil, formatErr(path, "", "version", "format version 0 is not valid")
	}
	if p.version > FormatVersion {
		return nil, &Error{Path: path, Field: "version", Err: ErrVersion,
			Msg: fmt.Sprintf("format version %d is newer than this reader (max %d)", p.version, FormatVersion)}
	}
	for i := 20; i < PreambleSize; i++ {
		if b[i] != 0 {
			return nil, formatErr(path, "", "reserved", "preamble byte %d is 0x%02x, want 0", i, b[i])
		}
	}
	hl := uint64(p.headerLen)
	if hl == 0 || hl > MaxHeaderSize {
		return nil, formatErr(path, "", "header_length", "header length %d outside 1..%d", hl, MaxHeaderSize)
	}
	if PreambleSize+hl > size {
		return nil, formatErr(path, "", "header_length", "header length %d runs past the end of the file (%d bytes)", hl, size)
	}
	hb := b[PreambleSize : PreambleSize+hl]
	if got := crc32.Checksum(hb, castagnoli); got != p.headerCRC {
		return nil, &Error{Path: path, Field: "header_crc", Err: ErrChecksum,
			Msg: fmt.Sprintf("header CRC32C is %08x, preamble says %08x", got, p.headerCRC)}
	}
	l := &fileLayout{version: p.version, headerLen: hl, dataStart: dataStart(hl), size: size}
	rest, err := l.hdr.UnmarshalMsg(hb)
	if err != nil {
		return nil, formatErr(path, "", "header", "cannot decode: %v", err)
	}
	if len(rest) != 0 {
		return nil, formatErr(path, "", "header", "%d bytes after the header's end", len(rest))
	}
	if err := l.validate(path); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *fileLayout) validate(path string) error {
	h := &l.hdr
	if l.dataStart > l.size {
		return formatErr(path, "", "data_size", "data region starts at %d, past the end of the file (%d bytes)", l.dataStart, l.size)
	}
	if h.DataSize != l.size-l.dataStart {
		return formatErr(path, "", "data_size", "header says the data region is %d bytes; the file has %d bytes after offset %d (truncated or extended)",
			h.DataSize, l.size-l.dataStart, l.dataStart)
	}
	switch Kind(h.Kind) {
	case KindComponent, KindSingle:
	default:
		return formatErr(path, "", "kind", "kind %q unknown (want component or single)", truncate(h.Kind))
	}
	if msg := checkName(h.Arch); msg != "" {
		return formatErr(path, "", "arch", "%s", msg)
	}
	l.params = make([]Param, len(h.Params))
	for i, p := range h.Params {
		l.params[i] = Param{Key: p.Key, Type: ParamType(p.Type), Int: p.Int, Float: p.Float, String: p.String}
	}
	if err := checkParams(path, l.params); err != nil {
		return err
	}
	n := uint64(len(h.Tensors))
	if len(h.Components) == 0 {
		return formatErr(path, "", "components", "no components")
	}
	if Kind(h.Kind) == KindComponent && len(h.Components) != 1 {
		return formatErr(path, "", "components", "a component file holds exactly one component, found %d", len(h.Components))
	}
	slots := make(map[string]struct{}, len(h.Components))
	next := uint64(0)
	for i, c := range h.Components {
		field := fmt.Sprintf("components[%d]", i)
		if msg := checkName(c.Slot); msg != "" {
			return formatErr(path, "", field+".slot", "%s", msg)
		}
		if _, dup := slots[c.Slot]; dup {
			return formatErr(path, "", field+".slot", "slot %q appears twice", c.Slot)
		}
		slots[c.Slot] = struct{}{}
		if uint64(c.First) != next {
			return formatErr(path, "", field+".first", "component %q starts at tensor %d, want %d (components cover the tensor list in order)", c.Slot, c.First, next)
		}
		next += uint64(c.Count)
		if next > n {
			return formatErr(path, "", field+".count", "component %q runs to tensor %d, past the %d tensors", c.Slot, next, n)
		}
	}
	if next != n {
		return formatErr(path, "", "components", "components cover %d of %d tensors", next, n)
	}
	names := make(map[string]struct{}, n)
	l.extents = make([]extent, 0, n+n/4)
	for i := range h.Tensors {
		t := &h.Tensors[i]
		if msg := checkName(t.Name); msg != "" {
			return formatErr(path, truncate(t.Name), "name", "%s", msg)
		}
		if _, dup := names[t.Name]; dup {
			return formatErr(path, t.Name, "name", "tensor name appears twice")
		}
		names[t.Name] = struct{}{}
		data, scales, field, msg := tensorBytes(DType(t.DType), t.Layout, t.Shape)
		if msg != "" {
			return formatErr(path, t.Name, field, "%s", msg)
		}
		if t.Length != data {
			return formatErr(path, t.Name, "length", "length %d does not match dtype %s, layout %q, shape %v (want %d)", t.Length, t.DType, t.Layout, t.Shape, data)
		}
		if err := l.checkExtent(path, t.Name, "offset", t.Offset, t.Length); err != nil {
			return err
		}
		l.extents = append(l.extents, extent{off: t.Offset, len: t.Length, crc: crcBytes(t.CRC), tensor: i})
		if scales != 0 {
			if t.ScalesLength != scales {
				return formatErr(path, t.Name, "scales_length", "scales length %d, want %d (one f32 per row)", t.ScalesLength, scales)
			}
			if err := l.checkExtent(path, t.Name, "scales_offset", t.ScalesOffset, t.ScalesLength); err != nil {
				return err
			}
			l.extents = append(l.extents, extent{off: t.ScalesOffset, len: t.ScalesLength, crc: crcBytes(t.ScalesCRC), tensor: i, scales: true})
		} else if t.ScalesOffset != 0 || t.ScalesLength != 0 || t.ScalesCRC != [4]byte{} {
			return formatErr(path, t.Name, "scales_offset", "dtype %s has no row scales, but scales fields are set", t.DType)
		}
		if !finite32(t.Scale) {
			return formatErr(path, t.Name, "scale", "scale %v is not finite", t.Scale)
		}
		if !DType(t.DType).Ternary() && t.Scale != 0 {
			return formatErr(path, t.Name, "scale", "dtype %s has no per-tensor scale, but scale is %v", t.DType, t.Scale)
		}
	}
	slices.SortFunc(l.extents, func(a, b extent) int {
		switch {
		case a.off < b.off:
			return -1
		case a.off > b.off:
			return 1
		}
		return 0
	})
	for i := 1; i < len(l.extents); i++ {
		a, b := l.extents[i-1], l.extents[i]
		if a.off+a.len > b.off {
			return formatErr(path, h.Tensors[b.tensor].Name, extentField(b), "bytes %d..%d overlap tensor %q (bytes %d..%d)",
				b.off, b.off+b.len, h.Tensors[a.tensor].Name, a.off, a.off+a.len)
		}
	}
	return nil
}

func extentField(e extent) string {
	if e.scales {
		return "scales_offset"
	}
	return "offset"
}

// checkExtent checks that [off, off+n) is aligned and inside the data
// region; all arithmetic is overflow-safe because n <= maxTensorBytes.
func (l *fileLayout) checkExtent(path, name, field string, off, n uint64) error {
	if off%TensorAlign != 0 {
		return formatErr(path, name, field, "offset %d is not a multiple of %d", off, TensorAlign)
	}
	if off < l.dataStart {
		return formatErr(path, name, field, "offset %d is before the data region (starts at %d)", off, l.dataStart)
	}
	if off > l.size || n > l.size-off {
		return formatErr(path, name, field, "offset %d + length %d runs past the end of the file (%d bytes)", off, n, l.size)
	}
	return nil
}
