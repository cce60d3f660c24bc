package mmapmodel

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"sync"
	"sync/atomic"
)

// KindRelease is the Kind of a Model opened from a release directory.
const KindRelease Kind = "release"

// Advice is a hint about how a model's bytes will be read (madvise(2)).
type Advice int

const (
	AdviseNormal     Advice = iota
	AdviseWillNeed          // start reading the pages in now (warm-up before a swap)
	AdviseSequential        // read once front to back (Verify, copy to a GPU)
	AdviseRandom            // no read-ahead (sparse access)
)

// File is one mapped model file: a single-file model, or one component of
// a release.
type File struct {
	Path         string
	Size         Bytes
	Version      int
	Kind         Kind
	Arch         string
	Params       []Param
	HeaderLength Bytes
	DataStart    Offset
	SHA256       string // hex; set for release components (from the manifest), else ""

	m      *mapping
	layout *fileLayout
	closed atomic.Bool // set by Model.Close: no new views
}

// Tensor describes one tensor. The fields are what the header records;
// views over its bytes are made with NewView, NewTernaryMatrix and
// NewInt8Matrix.
type Tensor struct {
	Name         string
	Slot         string // slot of the component holding the tensor
	DType        DType
	Layout       string // "i2b128" / "t5b160" for ternary dtypes, "" for dense
	Shape        []Elems
	Offset       Offset // absolute offset in File
	Length       Bytes
	CRC          uint32 // CRC32C of the Length bytes at Offset
	Scale        float32
	ScalesOffset Offset // int8 only: per-row f32 scales
	ScalesLength Bytes
	ScalesCRC    uint32

	file *File
}

// File is the file holding the tensor.
func (t *Tensor) File() *File { return t.file }

// Rows is Shape[0]; Cols is the product of the other dimensions (1 for a
// vector).
func (t *Tensor) Rows() Elems { return t.Shape[0] }

// Cols is the row length: the product of every dimension after the first.
func (t *Tensor) Cols() Elems {
	n := Elems(1)
	for _, d := range t.Shape[1:] {
		n *= d
	}
	return n
}

// NumElems is the product of the shape.
func (t *Tensor) NumElems() Elems { return t.Rows() * t.Cols() }

// Component is one slot of the model's graph and the tensors that fill it.
type Component struct {
	Slot    string
	File    *File
	Tensors []*Tensor
}

// Model is an opened model: one file, or a release directory's components.
// It is safe for concurrent use. Its Tensors stay valid after Close; views
// keep their mapping alive until released.
type Model struct {
	path       string
	kind       Kind
	arch       string
	params     []Param
	manifest   *Manifest
	files      []*File
	components []Component
	tensors    []*Tensor
	byName     map[string]*Tensor

	closeOnce sync.Once
	closeErr  error
}

// Open opens a model: a .bwm file (single-file or component) or a release
// directory holding manifest.json. It maps the files and reads and
// validates only their preambles and headers (and, for a release, the
// manifest): the cost is O(header), independent of the data size. Run
// Verify to check the data.
func Open(path string) (*Model, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return openRelease(path)
	}
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	m := &Model{path: path, kind: f.Kind, arch: f.Arch, params: f.Params}
	if err := m.addFile(f, ""); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func openFile(path string) (*File, error) {
	mp, osf, size, err := mapFile(path)
	if err != nil {
		return nil, err
	}
	// The mapping stays valid after the descriptor is closed.
	osf.Close()
	if size < PreambleSize {
		// Too short to map usefully (and mapping 0 bytes fails).
		mp.release()
		return nil, formatErr(path, "", "preamble", "file is %d bytes, shorter than the %d-byte preamble", size, PreambleSize)
	}
	l, err := parse(path, mp.data)
	if err == nil && uint64(len(mp.data)) != size {
		err = formatErr(path, "", "size", "file changed size while being opened")
	}
	if err != nil {
		mp.release()
		return nil, err
	}
	return &File{
		Path: path, Size: Bytes(size), Version: int(l.version), Kind: Kind(l.hdr.Kind),
		Arch: l.hdr.Arch, Params: l.params, HeaderLength: Bytes(l.headerLen),
		DataStart: Offset(l.dataStart), m: mp, layout: l,
	}, nil
}

// addFile appends f's components and tensors; wantSlot, when set, is the
// slot the manifest says f fills.
func (m *Model) addFile(f *File, wantSlot string) error {
	m.files = append(m.files, f)
	if m.byName == nil {
		m.byName = make(map[string]*Tensor)
	}
	h := &f.layout.hdr
	for _, c := range h.Components {
		if wantSlot != "" && c.Slot != wantSlot {
			return formatErr(f.Path, "", "components[0].slot", "component file fills slot %q, manifest says %q", c.Slot, wantSlot)
		}
		for _, other := range m.components {
			if other.Slot == c.Slot {
				return formatErr(f.Path, "", "components", "slot %q is filled twice (also by %s)", c.Slot, other.File.Path)
			}
		}
		comp := Component{Slot: c.Slot, File: f, Tensors: make([]*Tensor, 0, c.Count)}
		for i := c.First; i < c.First+c.Count; i++ {
			e := &h.Tensors[i]
			t := &Tensor{
				Name: e.Name, Slot: c.Slot, DType: DType(e.DType), Layout: e.Layout,
				Shape:  make([]Elems, len(e.Shape)),
				Offset: Offset(e.Offset), Length: Bytes(e.Length), CRC: crcBytes(e.CRC), Scale: e.Scale,
				ScalesOffset: Offset(e.ScalesOffset), ScalesLength: Bytes(e.ScalesLength), ScalesCRC: crcBytes(e.ScalesCRC),
				file: f,
			}
			for j, d := range e.Shape {
				t.Shape[j] = Elems(d)
			}
			if prev, dup := m.byName[t.Name]; dup {
				return formatErr(f.Path, t.Name, "name", "tensor name also used in %s (slot %q)", prev.file.Path, prev.Slot)
			}
			m.byName[t.Name] = t
			m.tensors = append(m.tensors, t)
			comp.Tensors = append(comp.Tensors, t)
		}
		m.components = append(m.components, comp)
	}
	return nil
}

// Path is the path Open was given.
func (m *Model) Path() string { return m.path }

// Kind is KindSingle, KindComponent (a lone component file) or KindRelease.
func (m *Model) Kind() Kind { return m.kind }

// Arch is the architecture name, e.g. "mlp" or "bitnet-b1.58".
func (m *Model) Arch() string { return m.arch }

// Params are the hyper-parameters, sorted by key.
func (m *Model) Params() []Param { return m.params }

// Param returns the hyper-parameter named key.
func (m *Model) Param(key string) (Param, bool) {
	for _, p := range m.params {
		if p.Key == key {
			return p, true
		}
	}
	return Param{}, false
}

// Manifest is the release manifest, or nil for a single file.
func (m *Model) Manifest() *Manifest { return m.manifest }

// Files are the mapped files, in slot order.
func (m *Model) Files() []*File { return m.files }

// Components are the graph's slots in file order.
func (m *Model) Components() []Component { return m.components }

// Component returns the component filling slot.
func (m *Model) Component(slot string) (Component, bool) {
	for _, c := range m.components {
		if c.Slot == slot {
			return c, true
		}
	}
	return Component{}, false
}

// Tensors lists every tensor in file order.
func (m *Model) Tensors() []*Tensor { return m.tensors }

// Tensor returns the tensor named name, or an error wrapping ErrNotFound.
func (m *Model) Tensor(name string) (*Tensor, error) {
	if t, ok := m.byName[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("%s: tensor %q: %w", m.path, name, ErrNotFound)
}

// Advise passes a read-pattern hint for every mapped byte to the kernel.
func (m *Model) Advise(a Advice) error {
	for _, f := range m.files {
		if f.closed.Load() {
			return fmt.Errorf("%s: %w", f.Path, ErrClosed)
		}
		if d := f.m.data; d != nil && !f.m.unmapped.Load() {
			if err := madvise(d, a); err != nil {
				return fmt.Errorf("%s: madvise: %w", f.Path, err)
			}
		}
	}
	return nil
}

// Close drops the model's reference to its mappings. Bytes still used by
// live views stay mapped until the last view is released. Close is
// idempotent.
func (m *Model) Close() error {
	m.closeOnce.Do(func() {
		var errs []error
		for _, f := range m.files {
			f.closed.Store(true)
			if err := f.m.release(); err != nil {
				errs = append(errs, fmt.Errorf("%s: munmap: %w", f.Path, err))
			}
		}
		m.closeErr = errors.Join(errs...)
	})
	return m.closeErr
}

// maxReportedProblems caps the problems Verify collects, so a file full
// of damage gives a readable report.
const maxReportedProblems = 64

// FileReport says what Verify checked in one file.
type FileReport struct {
	Path    string
	Bytes   Bytes // every byte of the file was covered by a check
	Tensors int
	CRCs    int    // extents whose CRC32C was checked
	SHA256  string // the computed hash, for release components
}

// Report is the result of VerifyReport.
type Report struct {
	Files    []FileReport
	Problems []error // empty when every check holds
}

// Err joins the problems, or returns nil.
func (r *Report) Err() error { return errors.Join(r.Problems...) }

// Verify checks every byte of every file: the CRC32C of each tensor's data
// and scales, the zero padding between and after them, the ternary codes,
// and for a release the SHA-256 of each component file. It returns nil only
// if every check holds; otherwise the errors name file, tensor and field and
// wrap ErrChecksum or ErrFormat.
func (m *Model) Verify() error {
	r := m.VerifyReport()
	return r.Err()
}

// VerifyReport is Verify with the list of what was checked.
func (m *Model) VerifyReport() *Report {
	r := &Report{}
	for _, f := range m.files {
		if f.closed.Load() || !f.m.acquire() {
			r.Problems = append(r.Problems, fmt.Errorf("%s: %w", f.Path, ErrClosed))
			continue
		}
		fr := verifyFile(f, r)
		f.m.release()
		r.Files = append(r.Files, fr)
	}
	return r
}

func (r *Report) add(err error) bool {
	if len(r.Problems) < maxReportedProblems {
		r.Problems = append(r.Problems, err)
	}
	return len(r.Problems) < maxReportedProblems
}

func verifyFile(f *File, r *Report) FileReport {
	l := f.layout
	b := f.m.data
	fr := FileReport{Path: f.Path, Bytes: f.Size, Tensors: len(l.hdr.Tensors)}
	// One front-to-back pass: ask for read-ahead, and drop the hint after.
	// Errors are ignored: advice is only a hint.
	_ = madvise(b, AdviseSequential)
	defer madvise(b, AdviseNormal)
	if f.SHA256 != "" {
		sum := sha256.Sum256(b)
		fr.SHA256 = hex.EncodeToString(sum[:])
		if fr.SHA256 != f.SHA256 {
			r.add(&Error{Path: f.Path, Field: "sha256", Err: ErrChecksum,
				Msg: fmt.Sprintf("file hashes to %s, manifest says %s", fr.SHA256, f.SHA256)})
		}
	}
	// The preamble and header were checked by Open (magic, reserved bytes,
	// header CRC); what follows covers the rest of the file.
	pos := PreambleSize + l.headerLen
	checkZero := func(from, to uint64, what string) {
		for i := from; i < to; i++ {
			if b[i] != 0 {
				r.add(formatErr(f.Path, "", "padding", "byte %d (%s) is 0x%02x, want 0", i, what, b[i]))
				return
			}
		}
	}
	for _, e := range l.extents {
		t := &l.hdr.Tensors[e.tensor]
		what := "padding before tensor " + fmt.Sprintf("%q", t.Name)
		if pos == PreambleSize+l.headerLen {
			what = "padding after the header"
		}
		checkZero(pos, e.off, what)
		data := b[e.off : e.off+e.len]
		fr.CRCs++
		if got := crc32.Checksum(data, castagnoli); got != e.crc {
			field := "crc"
			if e.scales {
				field = "scales_crc"
			}
			if !r.add(&Error{Path: f.Path, Tensor: t.Name, Field: field, Err: ErrChecksum,
				Msg: fmt.Sprintf("CRC32C of bytes %d..%d is %08x, header says %08x", e.off, e.off+e.len, got, e.crc)}) {
				return fr
			}
		} else if !e.scales {
			if err := checkTernaryCodes(f.Path, t, data); err != nil {
				r.add(err)
			}
		}
		pos = e.off + e.len
	}
	checkZero(pos, uint64(len(b)), "padding at the end of the file")
	return fr
}

// checkTernaryCodes checks what a CRC cannot: that the writer stored valid
// codes. i2b128: no 2-bit field is 11 and the padding weights of each row's
// last block are code 01 (weight 0). t5b160: every byte is one of the 243
// encodings and padding weights are code 1 (weight 0).
func checkTernaryCodes(path string, t *tensorEntry, data []byte) error {
	switch t.Layout {
	case LayoutI2B128:
		// A field is 11 when its high and low bits are both set: test 8
		// bytes at a time, and find the byte only when one is bad.
		const lows = 0x5555555555555555
		i := 0
		for ; i+8 <= len(data); i += 8 {
			if x := binary.LittleEndian.Uint64(data[i:]); x&(x>>1)&lows != 0 {
				break
			}
		}
		for ; i < len(data); i++ {
			if c := data[i]; c&(c>>1)&0x55 != 0 {
				return formatErr(path, t.Name, "data", "byte %d (0x%02x) holds the invalid 2-bit code 11", i, c)
			}
		}
		rows, k := t.Shape[0], t.Shape[1]
		rowBytes := (k + 127) / 128 * 32
		for r := uint64(0); r < rows; r++ {
			row := data[r*rowBytes : (r+1)*rowBytes]
			for w := k; w < rowBytes*4; w++ {
				q := w % 128
				c := row[w/128*32+q%32] >> (6 - 2*(q/32)) & 3
				if c != 1 {
					return formatErr(path, t.Name, "data", "row %d padding weight %d has code %d, want 1 (zero)", r, w, c)
				}
			}
		}
	case LayoutT5B160:
		for i, c := range data {
			if !t5Valid[c] {
				return formatErr(path, t.Name, "data", "byte %d is %d, not an encoded 5-trit value", i, c)
			}
		}
		rows, k := t.Shape[0], t.Shape[1]
		rowBytes := (k + 159) / 160 * 32
		for r := uint64(0); r < rows; r++ {
			row := data[r*rowBytes : (r+1)*rowBytes]
			for w := k; w < rowBytes*5; w++ {
				q := w % 160
				if c := t5Trit(row[w/160*32+q%32], q/32); c != 1 {
					return formatErr(path, t.Name, "data", "row %d padding weight %d has code %d, want 1 (zero)", r, w, c)
				}
			}
		}
	}
	return nil
}

// t5b160 stores the base-3 number v = Σ c_k·3^(4-k) of a byte's five codes
// as the fixed-point fraction b = ceil(v·256/243) (llama.cpp's TQ1_0
// packing), so trit k is the top of (b·3^k mod 256)·3. Of the 256 byte
// values exactly 243 are encodings; t5Valid marks them.
var t5Valid = func() (ok [256]bool) {
	for v := 0; v < 243; v++ {
		ok[(v*256+242)/243] = true
	}
	return ok
}()

// t5Trit returns code k (0..4, most significant first) of a t5b160 byte.
func t5Trit(b byte, k uint64) byte {
	m := b
	for ; k > 0; k-- {
		m *= 3 // mod 256
	}
	return byte(uint16(m) * 3 >> 8)
}
