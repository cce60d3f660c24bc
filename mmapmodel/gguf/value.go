package gguf

import (
	"encoding/binary"
	"fmt"
	"iter"
	"math"
	"strings"
)

// ValueType is the type tag of a GGUF metadata value (GGML docs/gguf.md,
// enum gguf_metadata_value_type).
type ValueType uint32

// Metadata value types.
const (
	Uint8   ValueType = 0
	Int8    ValueType = 1
	Uint16  ValueType = 2
	Int16   ValueType = 3
	Uint32  ValueType = 4
	Int32   ValueType = 5
	Float32 ValueType = 6
	Bool    ValueType = 7
	String  ValueType = 8
	Array   ValueType = 9
	Uint64  ValueType = 10
	Int64   ValueType = 11
	Float64 ValueType = 12
)

var valueTypeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}

// String returns the spec's name of the type.
func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// fixedSize returns the encoded size of a scalar type, or 0 for string,
// array and unknown types.
func (t ValueType) fixedSize() uint64 {
	switch t {
	case Uint8, Int8, Bool:
		return 1
	case Uint16, Int16:
		return 2
	case Uint32, Int32, Float32:
		return 4
	case Uint64, Int64, Float64:
		return 8
	}
	return 0
}

// Value is one metadata value. It refers to the validated bytes of the file
// and decodes them on access.
type Value struct {
	typ  ValueType
	elem ValueType // element type of an array
	n    uint64    // element count of an array
	raw  []byte    // scalar bytes, string bytes, or array elements
}

// Type returns the value's type.
func (v Value) Type() ValueType { return v.typ }

// ElemType returns the element type of an array (meaningless otherwise).
func (v Value) ElemType() ValueType { return v.elem }

// Len returns the element count of an array, the byte length of a string,
// and 1 for a scalar.
func (v Value) Len() uint64 {
	switch v.typ {
	case Array:
		return v.n
	case String:
		return uint64(len(v.raw))
	}
	return 1
}

// Uint returns an unsigned integer value, or a signed one that is not
// negative; ok is false for any other type.
func (v Value) Uint() (x uint64, ok bool) {
	switch v.typ {
	case Uint8:
		return uint64(v.raw[0]), true
	case Uint16:
		return uint64(binary.LittleEndian.Uint16(v.raw)), true
	case Uint32:
		return uint64(binary.LittleEndian.Uint32(v.raw)), true
	case Uint64:
		return binary.LittleEndian.Uint64(v.raw), true
	case Int8, Int16, Int32, Int64:
		i, _ := v.Int()
		if i >= 0 {
			return uint64(i), true
		}
	}
	return 0, false
}

// Int returns a signed integer value, or an unsigned one that fits in int64.
func (v Value) Int() (x int64, ok bool) {
	switch v.typ {
	case Int8:
		return int64(int8(v.raw[0])), true
	case Int16:
		return int64(int16(binary.LittleEndian.Uint16(v.raw))), true
	case Int32:
		return int64(int32(binary.LittleEndian.Uint32(v.raw))), true
	case Int64:
		return int64(binary.LittleEndian.Uint64(v.raw)), true
	case Uint8, Uint16, Uint32, Uint64:
		u, _ := v.Uint()
		if u <= math.MaxInt64 {
			return int64(u), true
		}
	}
	return 0, false
}

// Float returns a float32 or float64 value.
func (v Value) Float() (float64, bool) {
	switch v.typ {
	case Float32:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(v.raw))), true
	case Float64:
		return math.Float64frombits(binary.LittleEndian.Uint64(v.raw)), true
	}
	return 0, false
}

// Bool returns a bool value.
func (v Value) Bool() (b, ok bool) {
	if v.typ != Bool {
		return false, false
	}
	return v.raw[0] == 1, true
}

// Str returns a string value (a copy).
func (v Value) Str() (string, bool) {
	if v.typ != String {
		return "", false
	}
	return string(v.raw), true
}

// Elems iterates over the elements of an array (nothing for other types).
func (v Value) Elems() iter.Seq[Value] {
	return func(yield func(Value) bool) {
		if v.typ != Array {
			return
		}
		b := v.raw
		for i := uint64(0); i < v.n; i++ {
			// The bytes were validated when the file was opened.
			e, rest, err := decodeValue(b, v.elem, 0)
			if err != nil || !yield(e) {
				return
			}
			b = rest
		}
	}
}

// String formats the value for display; long arrays are elided.
func (v Value) String() string {
	switch v.typ {
	case String:
		return fmt.Sprintf("%q", v.raw)
	case Bool:
		b, _ := v.Bool()
		return fmt.Sprint(b)
	case Float32, Float64:
		f, _ := v.Float()
		return fmt.Sprint(f)
	case Int8, Int16, Int32, Int64:
		i, _ := v.Int()
		return fmt.Sprint(i)
	case Uint8, Uint16, Uint32, Uint64:
		u, _ := v.Uint()
		return fmt.Sprint(u)
	case Array:
		var sb strings.Builder
		fmt.Fprintf(&sb, "%s[%d]{", v.elem, v.n)
		i := 0
		for e := range v.Elems() {
			if i == 8 {
				sb.WriteString(", …")
				break
			}
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(e.String())
			i++
		}
		sb.WriteString("}")
		return sb.String()
	}
	return v.typ.String()
}

// maxArrayDepth bounds nested arrays (the spec allows nesting; no published
// file nests more than once).
const maxArrayDepth = 8

// decodeValue reads one value of type t from the front of b, checking every
// length against len(b), and returns it with the remaining bytes. It
// allocates nothing, whatever the counts say: each element consumes at least
// one byte, so the work is bounded by len(b).
func decodeValue(b []byte, t ValueType, depth int) (Value, []byte, error) {
	if sz := t.fixedSize(); sz != 0 {
		if uint64(len(b)) < sz {
			return Value{}, nil, fmt.Errorf("%s value needs %d bytes, %d left", t, sz, len(b))
		}
		if t == Bool && b[0] > 1 {
			return Value{}, nil, fmt.Errorf("bool value is %d, want 0 or 1", b[0])
		}
		return Value{typ: t, raw: b[:sz]}, b[sz:], nil
	}
	switch t {
	case String:
		if len(b) < 8 {
			return Value{}, nil, fmt.Errorf("string length needs 8 bytes, %d left", len(b))
		}
		n := binary.LittleEndian.Uint64(b)
		if n > uint64(len(b)-8) {
			return Value{}, nil, fmt.Errorf("string length %d past end (%d bytes left)", n, len(b)-8)
		}
		return Value{typ: String, raw: b[8 : 8+n]}, b[8+n:], nil
	case Array:
		if depth >= maxArrayDepth {
			return Value{}, nil, fmt.Errorf("arrays nested deeper than %d", maxArrayDepth)
		}
		if len(b) < 12 {
			return Value{}, nil, fmt.Errorf("array header needs 12 bytes, %d left", len(b))
		}
		et := ValueType(binary.LittleEndian.Uint32(b))
		n := binary.LittleEndian.Uint64(b[4:])
		body := b[12:]
		if et > Float64 {
			return Value{}, nil, fmt.Errorf("%w: array element type %d", ErrUnsupported, uint32(et))
		}
		if sz := et.fixedSize(); sz != 0 {
			if n > uint64(len(body))/sz {
				return Value{}, nil, fmt.Errorf("array of %d %s past end (%d bytes left)", n, et, len(body))
			}
			raw := body[:n*sz]
			if et == Bool {
				for i, c := range raw {
					if c > 1 {
						return Value{}, nil, fmt.Errorf("bool element %d is %d, want 0 or 1", i, c)
					}
				}
			}
			return Value{typ: Array, elem: et, n: n, raw: raw}, body[n*sz:], nil
		}
		minSize := uint64(8) // a string's length
		if et == Array {
			minSize = 12
		}
		if n > uint64(len(body))/minSize {
			return Value{}, nil, fmt.Errorf("array of %d %s past end (%d bytes left)", n, et, len(body))
		}
		rest := body
		for i := uint64(0); i < n; i++ {
			var err error
			_, rest, err = decodeValue(rest, et, depth+1)
			if err != nil {
				return Value{}, nil, fmt.Errorf("array element %d: %w", i, err)
			}
		}
		return Value{typ: Array, elem: et, n: n, raw: body[:len(body)-len(rest)]}, rest, nil
	}
	return Value{}, nil, fmt.Errorf("%w: value type %d", ErrUnsupported, uint32(t))
}
