package mmapmodel

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// TensorSpec describes a tensor to write. Data supplies exactly the
// tensor's packed byte length (see TensorSize); it is read once, during
// Commit, so a converter can stream tensors of any size with memory bounded
// by a copy buffer.
type TensorSpec struct {
	Name   string
	DType  DType
	Shape  []Elems
	Scale  float32   // ternary dtypes: the per-tensor scale; else 0
	Scales []float32 // I8 only: one f32 scale per row
	Data   io.Reader
}

// TensorSize is the byte length Data must supply for a tensor of this
// dtype and shape (the ternary dtypes use their one layout).
func TensorSize(d DType, shape []Elems) (Bytes, error) {
	us := make([]uint64, len(shape))
	for i, s := range shape {
		if s < 0 {
			return 0, fmt.Errorf("shape %v: negative dimension: %w", shape, ErrFormat)
		}
		us[i] = uint64(s)
	}
	n, _, _, msg := tensorBytes(d, layoutFor(d), us)
	if msg != "" {
		return 0, fmt.Errorf("%s: %w", msg, ErrFormat)
	}
	return Bytes(n), nil
}

// Written describes a committed file.
type Written struct {
	Path   string
	Size   Bytes
	SHA256 string // lowercase hex of the whole file
}

// Writer builds one model file. Add components and tensors, then Commit,
// which writes the file atomically: a temporary file in the same
// directory, fsync, rename, fsync of the directory. A reader never sees a
// partial file. The output depends only on what was added, byte for byte.
type Writer struct {
	path   string
	kind   Kind
	arch   string
	params []Param
	comps  []compEntry
	specs  []TensorSpec
	err    error

	// byHash: name the file by its SHA-256 inside path (a directory).
	byHash bool
	// committed is called after a successful Commit (ReleaseWriter uses
	// it to record the component).
	committed func(Written)
}

// NewWriter starts a single-file model (KindSingle) at path.
func NewWriter(path, arch string, params []Param) *Writer {
	return &Writer{path: path, kind: KindSingle, arch: arch, params: slices.Clone(params)}
}

// NewComponentWriter starts a component file holding the one slot; its
// tensors are added with Add (BeginComponent is called already).
func NewComponentWriter(path, arch, slot string) *Writer {
	w := &Writer{path: path, kind: KindComponent, arch: arch}
	w.BeginComponent(slot)
	return w
}

// BeginComponent starts a slot: the tensors added next belong to it.
func (w *Writer) BeginComponent(slot string) {
	if w.err == nil && w.kind == KindComponent && len(w.comps) == 1 {
		w.err = formatErr(w.path, "", "components", "a component file holds one component; cannot add %q", slot)
	}
	w.comps = append(w.comps, compEntry{Slot: slot, First: uint32(len(w.specs))})
}

// Add appends a tensor to the current component.
func (w *Writer) Add(t TensorSpec) {
	if w.err != nil {
		return
	}
	if len(w.comps) == 0 {
		w.err = formatErr(w.path, t.Name, "", "tensor added before any BeginComponent")
		return
	}
	w.comps[len(w.comps)-1].Count++
	t.Shape = slices.Clone(t.Shape)
	w.specs = append(w.specs, t)
}

// Err reports the first error recorded by BeginComponent or Add.
func (w *Writer) Err() error { return w.err }

// plan computes the header (with zero CRCs) and thus every offset. The
// offsets are in the header and their MessagePack width depends on their
// value, so the data start is found by iteration: it only grows, and it is
// page-aligned, so this ends after one or two rounds.
func (w *Writer) plan() (*header, uint64, error) {
	ps := slices.Clone(w.params)
	slices.SortFunc(ps, func(a, b Param) int { return strings.Compare(a.Key, b.Key) })
	if err := checkParams(w.path, ps); err != nil {
		return nil, 0, err
	}
	h := &header{Kind: string(w.kind), Arch: w.arch, Components: w.comps}
	for _, p := range ps {
		h.Params = append(h.Params, paramEntry{Key: p.Key, Type: string(p.Type), Int: p.Int, Float: p.Float, String: p.String})
	}
	if len(w.specs) > MaxTensors {
		return nil, 0, formatErr(w.path, "", "tensors", "%d tensors (max %d)", len(w.specs), MaxTensors)
	}
	h.Tensors = make([]tensorEntry, len(w.specs))
	for i, s := range w.specs {
		e := &h.Tensors[i]
		e.Name, e.DType, e.Layout, e.Scale = s.Name, string(s.DType), layoutFor(s.DType), s.Scale
		e.Shape = make([]uint64, len(s.Shape))
		for j, d := range s.Shape {
			if d < 0 {
				return nil, 0, formatErr(w.path, s.Name, "shape", "negative dimension %d", d)
			}
			e.Shape[j] = uint64(d)
		}
		n, sc, field, msg := tensorBytes(s.DType, e.Layout, e.Shape)
		if msg != "" {
			return nil, 0, formatErr(w.path, s.Name, field, "%s", msg)
		}
		e.Length = n
		if sc != 0 {
			if uint64(len(s.Scales))*4 != sc {
				return nil, 0, formatErr(w.path, s.Name, "scales", "%d row scales for %d rows", len(s.Scales), e.Shape[0])
			}
			e.ScalesLength = sc
		} else if len(s.Scales) != 0 {
			return nil, 0, formatErr(w.path, s.Name, "scales", "dtype %s takes no row scales", s.DType)
		}
		if s.Data == nil {
			return nil, 0, formatErr(w.path, s.Name, "data", "no data source")
		}
	}
	start := uint64(PageAlign)
	for round := 0; ; round++ {
		off := start
		for i := range h.Tensors {
			e := &h.Tensors[i]
			e.Offset = off
			off = alignUp(off+e.Length, TensorAlign)
			if e.ScalesLength != 0 {
				e.ScalesOffset = off
				off = alignUp(off+e.ScalesLength, TensorAlign)
			}
		}
		// The file ends at the last byte of data, not at its padding.
		end := start
		if n := len(h.Tensors); n > 0 {
			last := &h.Tensors[n-1]
			end = last.Offset + last.Length
			if last.ScalesLength != 0 {
				end = last.ScalesOffset + last.ScalesLength
			}
		}
		h.DataSize = end - start
		hl := uint64(h.Msgsize())
		enc, err := h.MarshalMsg(make([]byte, 0, hl))
		if err != nil {
			return nil, 0, fmt.Errorf("%s: encoding header: %w", w.path, err)
		}
		if uint64(len(enc)) > MaxHeaderSize {
			return nil, 0, formatErr(w.path, "", "header", "header is %d bytes (max %d)", len(enc), MaxHeaderSize)
		}
		if ds := dataStart(uint64(len(enc))); ds > start {
			start = ds
			continue
		}
		// Validate exactly what a reader will validate.
		l := &fileLayout{version: FormatVersion, headerLen: uint64(len(enc)), dataStart: start, size: start + h.DataSize, hdr: *h}
		if err := l.validate(w.path); err != nil {
			return nil, 0, err
		}
		return h, start, nil
	}
}

// Commit writes the file. With a Writer from a ReleaseWriter, the file is
// named by its hash. On error no file is left behind.
func (w *Writer) Commit() (Written, error) {
	if w.err != nil {
		return Written{}, w.err
	}
	if msg := checkName(w.arch); msg != "" {
		return Written{}, formatErr(w.path, "", "arch", "%s", msg)
	}
	h, start, err := w.plan()
	if err != nil {
		return Written{}, err
	}
	dir := w.path
	if !w.byHash {
		dir = filepath.Dir(w.path)
	}
	tmp, err := os.CreateTemp(dir, ".bwm-tmp-*")
	if err != nil {
		return Written{}, err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	for i := range h.Tensors {
		e := &h.Tensors[i]
		s := &w.specs[i]
		c, err := copyExtent(tmp, e.Offset, s.Data, e.Length)
		if err != nil {
			return Written{}, fmt.Errorf("%s: tensor %q: data: %w", w.path, e.Name, err)
		}
		e.CRC = crcArray(c)
		if e.ScalesLength != 0 {
			buf := make([]byte, e.ScalesLength)
			for r, f := range s.Scales {
				if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
					return Written{}, formatErr(w.path, e.Name, "scales", "row %d scale %v is not finite", r, f)
				}
				binary.LittleEndian.PutUint32(buf[4*r:], math.Float32bits(f))
			}
			if _, err := tmp.WriteAt(buf, int64(e.ScalesOffset)); err != nil {
				return Written{}, err
			}
			e.ScalesCRC = crcArray(crc32.Checksum(buf, castagnoli))
		}
	}
	size := start + h.DataSize
	// Truncate makes the file exactly size bytes; the gaps that were
	// skipped read as zero, as the format requires.
	if err := tmp.Truncate(int64(size)); err != nil {
		return Written{}, err
	}
	enc, err := h.MarshalMsg(nil)
	if err != nil {
		return Written{}, err
	}
	if dataStart(uint64(len(enc))) != start {
		return Written{}, fmt.Errorf("%s: header length changed after checksumming (%d bytes): %w", w.path, len(enc), ErrFormat)
	}
	head := make([]byte, PreambleSize+len(enc))
	preamble{version: FormatVersion, headerLen: uint32(len(enc)), headerCRC: crc32.Checksum(enc, castagnoli)}.put(head)
	copy(head[PreambleSize:], enc)
	if _, err := tmp.WriteAt(head, 0); err != nil {
		return Written{}, err
	}
	if err := tmp.Sync(); err != nil {
		return Written{}, err
	}
	// Hash what is on disk, the way a reader will.
	hs := sha256.New()
	if _, err := io.Copy(hs, io.NewSectionReader(tmp, 0, int64(size))); err != nil {
		return Written{}, err
	}
	sum := hex.EncodeToString(hs.Sum(nil))
	if err := tmp.Close(); err != nil {
		return Written{}, err
	}
	final := w.path
	if w.byHash {
		final = filepath.Join(w.path, sum+ComponentExt)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return Written{}, err
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return Written{}, err
	}
	ok = true
	if err := syncDir(filepath.Dir(final)); err != nil {
		return Written{}, err
	}
	wr := Written{Path: final, Size: Bytes(size), SHA256: sum}
	if w.committed != nil {
		w.committed(wr)
	}
	return wr, nil
}

// copyExtent copies exactly n bytes from src to f at off and returns their
// CRC32C; src must hold exactly n bytes.
func copyExtent(f *os.File, off uint64, src io.Reader, n uint64) (uint32, error) {
	crc := crc32.New(castagnoli)
	dst := io.NewOffsetWriter(f, int64(off))
	got, err := io.CopyN(io.MultiWriter(dst, crc), src, int64(n))
	if errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("source ended after %d of %d bytes", got, n)
	}
	if err != nil {
		return 0, err
	}
	var one [1]byte
	if k, _ := io.ReadFull(src, one[:]); k != 0 {
		return 0, fmt.Errorf("source has more than %d bytes", n)
	}
	return crc.Sum32(), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	// Some platforms refuse fsync on a directory; the rename is then as
	// durable as that platform allows.
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// ReleaseWriter builds a release directory: one component file per slot,
// named by content hash, and manifest.json, written last and atomically, so
// a directory with a manifest always has all its components.
type ReleaseWriter struct {
	dir    string
	arch   string
	params []Param
	comps  []ManifestComponent
}

// NewReleaseWriter starts a release in dir (created if missing).
func NewReleaseWriter(dir, arch string, params []Param) (*ReleaseWriter, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ps := slices.Clone(params)
	slices.SortFunc(ps, func(a, b Param) int { return strings.Compare(a.Key, b.Key) })
	return &ReleaseWriter{dir: dir, arch: arch, params: ps}, nil
}

// Component returns a Writer for slot's component file, named by its
// hash in the release directory. When its Commit succeeds the component is
// recorded in the manifest, in the order of the commits.
func (rw *ReleaseWriter) Component(slot string) *Writer {
	w := NewComponentWriter(rw.dir, rw.arch, slot)
	w.byHash = true
	w.committed = func(wr Written) {
		rw.comps = append(rw.comps, ManifestComponent{Slot: slot, SHA256: wr.SHA256, Size: int64(wr.Size)})
	}
	return w
}

// AddExisting records a component file that is already in the release
// directory, such as one shared, unchanged, with an earlier release (an
// update then ships only the components that changed). Commit checks that
// the file is there with this size.
func (rw *ReleaseWriter) AddExisting(slot, sha256Hex string, size Bytes) {
	rw.comps = append(rw.comps, ManifestComponent{Slot: slot, SHA256: sha256Hex, Size: int64(size)})
}

// Commit writes manifest.json atomically and returns its path.
func (rw *ReleaseWriter) Commit() (string, error) {
	m := &Manifest{Format: ManifestFormat, Version: ManifestVersion, Arch: rw.arch,
		Params: manifestParams(rw.params), Components: rw.comps}
	b, err := m.Marshal()
	if err != nil {
		return "", err
	}
	p := filepath.Join(rw.dir, ManifestName)
	if _, err := ParseManifest(p, b); err != nil {
		return "", err
	}
	for _, c := range rw.comps {
		cp := filepath.Join(rw.dir, c.FileName())
		st, err := regularFile(cp, fmt.Sprintf("component file for slot %q", c.Slot))
		if err != nil {
			return "", err
		}
		if st.Size() != c.Size {
			return "", &Error{Path: cp, Field: "size", Err: ErrChecksum,
				Msg: fmt.Sprintf("component file for slot %q is %d bytes, manifest says %d", c.Slot, st.Size(), c.Size)}
		}
	}
	return p, writeFileAtomic(p, b)
}

func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".manifest-tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}
