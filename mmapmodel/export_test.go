package mmapmodel

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"strings"
)

// Hooks for the external tests (package mmapmodel_test), which cannot be
// internal tests because they import internal/testmodel, which imports
// this package.

type (
	HeaderForTest = header
	TensorForTest = tensorEntry
)

// RewriteHeader decodes b's header, applies mutate, and writes it back with
// a correct CRC, keeping the data region where it was.
func RewriteHeader(b []byte, mutate func(h *HeaderForTest)) ([]byte, error) {
	hl := binary.LittleEndian.Uint32(b[12:])
	var h header
	if _, err := h.UnmarshalMsg(b[PreambleSize : PreambleSize+hl]); err != nil {
		return nil, err
	}
	mutate(&h)
	enc, err := h.MarshalMsg(nil)
	if err != nil {
		return nil, err
	}
	if dataStart(uint64(len(enc))) != dataStart(uint64(hl)) {
		return nil, fmt.Errorf("rewritten header moves the data region")
	}
	out := append([]byte(nil), b...)
	clear(out[PreambleSize:dataStart(uint64(hl))])
	copy(out[PreambleSize:], enc)
	binary.LittleEndian.PutUint32(out[12:], uint32(len(enc)))
	binary.LittleEndian.PutUint32(out[16:], crc32.Checksum(enc, castagnoli))
	return out, nil
}

// SetMaxMapBytes stands in for a platform whose int has fewer bits.
func SetMaxMapBytes(n uint64) (restore func()) {
	old := maxMapBytes
	maxMapBytes = n
	return func() { maxMapBytes = old }
}

// Unmapped reports whether every file of m has been unmapped.
func Unmapped(m *Model) bool {
	for _, f := range m.files {
		if !f.m.unmapped.Load() {
			return false
		}
	}
	return true
}

// Refs is the reference count of m's first file's mapping.
func Refs(m *Model) int64 { return m.files[0].m.refs.Load() }

// DataStartFor is the data region's offset for a header of n bytes.
func DataStartFor(n uint64) uint64 { return dataStart(n) }

// WriteZeroModel writes a model whose tensors are all zero bytes without
// writing them: the data region is a hole (a sparse file), so a 1 GiB test
// model costs no disk writes. The CRCs are those of the zero bytes, so the
// file also verifies, unless withCRC is false (which saves reading 1 GiB
// of zeros through CRC32C when only Open is measured).
func WriteZeroModel(path string, specs []TensorSpec, withCRC bool) error {
	w := NewWriter(path, "zero", []Param{IntParam("tensors", int64(len(specs)))})
	w.BeginComponent("all")
	for _, s := range specs {
		s.Data = strings.NewReader("") // never read: the data is a hole
		w.Add(s)
	}
	h, start, err := w.plan()
	if err != nil {
		return err
	}
	zero := make([]byte, 1<<20)
	zcrc := func(n uint64) [4]byte {
		var c uint32
		for n > 0 {
			k := min(n, uint64(len(zero)))
			c = crc32.Update(c, castagnoli, zero[:k])
			n -= k
		}
		return crcArray(c)
	}
	for i := range h.Tensors {
		if !withCRC {
			break
		}
		e := &h.Tensors[i]
		e.CRC = zcrc(e.Length)
		if e.ScalesLength != 0 {
			e.ScalesCRC = zcrc(e.ScalesLength)
		}
	}
	enc, err := h.MarshalMsg(nil)
	if err != nil {
		return err
	}
	head := make([]byte, PreambleSize+len(enc))
	preamble{version: FormatVersion, headerLen: uint32(len(enc)), headerCRC: crc32.Checksum(enc, castagnoli)}.put(head)
	copy(head[PreambleSize:], enc)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(head); err != nil {
		return err
	}
	return f.Truncate(int64(start + h.DataSize))
}
