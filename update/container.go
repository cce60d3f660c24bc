package update

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Bundle container, version 1. All integers big-endian.
//
//	magic     8 bytes  "BWBUNDL1"
//	entries   repeated:
//	  nameLen  uint16   1..MaxEntryName
//	  name     nameLen bytes, a checked relative path (checkEntryName)
//	  size     uint64   bytes of data that follow
//	  data     size bytes
//	end       uint16   0 (an entry with an empty name), then end of file
//
// Entries come in this order: roots/<N>.root.json for every root after
// the first, N going up by one (see RotateKeys; may be absent),
// timestamp.json, snapshot.json, targets.json (the TUF metadata),
// releases/<id>.json (the release manifest, a signed
// target), then objects/sha256-<hex>.bwm for each component the bundle
// carries (components already on the device may be left out). The
// container is read front to back once, so it can be streamed; nothing in
// it is trusted: sizes only bound reads, every name is checked, and every
// byte that matters is checked against the signed metadata.
//
// Our own format rather than tar: tar brings links, sparse files, PAX
// headers and long-name extensions a bundle never needs, and each is a
// parser path to get wrong. This one has three fields per entry.
const (
	bundleMagic = "BWBUNDL1"
	// MaxEntryName bounds an entry name's length.
	MaxEntryName = 255
	// MaxBundleEntries bounds the number of entries.
	MaxBundleEntries = MaxSlots + 8
)

// Names of the metadata entries and the prefixes of target entries.
const (
	timestampEntry = "timestamp.json"
	snapshotEntry  = "snapshot.json"
	targetsEntry   = "targets.json"
	releasePrefix  = ReleasesDir + "/"
	objectPrefix   = ObjectsDir + "/"
)

// checkEntryName accepts relative slash paths whose elements are
// non-empty, not "." or "..", made of [A-Za-z0-9._-]: no absolute paths,
// no traversal, no backslashes, no control bytes or NUL.
func checkEntryName(name string) error {
	if name == "" || len(name) > MaxEntryName {
		return fmt.Errorf("entry name %q: length %d, want 1..%d: %w", name, len(name), MaxEntryName, ErrName)
	}
	if name[0] == '/' {
		return fmt.Errorf("entry name %q: absolute path: %w", name, ErrName)
	}
	for _, el := range strings.Split(name, "/") {
		if el == "" || el == "." || el == ".." {
			return fmt.Errorf("entry name %q: element %q: %w", name, el, ErrName)
		}
		for i := 0; i < len(el); i++ {
			c := el[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				return fmt.Errorf("entry name %q: byte %q not allowed: %w", name, c, ErrName)
			}
		}
	}
	return nil
}

// targetKind classifies a checked target path: a release manifest (id
// returned), a component (hash returned), or neither.
func targetKind(name string) (kind string, key string) {
	switch {
	case strings.HasPrefix(name, releasePrefix) && strings.HasSuffix(name, ".json"):
		id := strings.TrimSuffix(strings.TrimPrefix(name, releasePrefix), ".json")
		if checkName("release id", id) == nil {
			return "release", id
		}
	case strings.HasPrefix(name, objectPrefix+"sha256-") && strings.HasSuffix(name, ".bwm"):
		h := strings.TrimSuffix(strings.TrimPrefix(name, objectPrefix+"sha256-"), ".bwm")
		if isHexSHA256(h) {
			return "object", h
		}
	}
	return "", ""
}

// bundleReader reads a container front to back.
type bundleReader struct {
	r       io.Reader
	cur     io.LimitedReader
	entries int
	seen    map[string]bool
	done    bool
}

func newBundleReader(r io.Reader) (*bundleReader, error) {
	var magic [len(bundleMagic)]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, fmt.Errorf("bundle: reading magic: %v: %w", err, ErrFormat)
	}
	if string(magic[:]) != bundleMagic {
		return nil, fmt.Errorf("bundle: magic %q, want %q: %w", magic[:], bundleMagic, ErrFormat)
	}
	return &bundleReader{r: r, seen: map[string]bool{}}, nil
}

// Next skips what is left of the current entry and returns the next
// entry's name and declared size; io.EOF after the end marker. The size is
// only what the bundle claims: callers read the entry through Read and
// bound it by the signed length.
func (b *bundleReader) Next() (string, int64, error) {
	if b.done {
		return "", 0, io.EOF
	}
	if b.cur.N > 0 {
		if _, err := io.Copy(io.Discard, &b.cur); err != nil {
			return "", 0, fmt.Errorf("bundle: skipping entry: %w", err)
		}
		if b.cur.N > 0 {
			return "", 0, fmt.Errorf("bundle: truncated entry (%d bytes missing): %w", b.cur.N, ErrLength)
		}
	}
	var n [2]byte
	if _, err := io.ReadFull(b.r, n[:]); err != nil {
		return "", 0, fmt.Errorf("bundle: entry %d header: %v (truncated bundle?): %w", b.entries, err, ErrFormat)
	}
	nameLen := binary.BigEndian.Uint16(n[:])
	if nameLen == 0 {
		b.done = true
		var extra [1]byte
		if k, _ := io.ReadFull(b.r, extra[:]); k != 0 {
			return "", 0, fmt.Errorf("bundle: data after the end marker: %w", ErrFormat)
		}
		return "", 0, io.EOF
	}
	if b.entries >= MaxBundleEntries {
		return "", 0, fmt.Errorf("bundle: more than %d entries: %w", MaxBundleEntries, ErrFormat)
	}
	if nameLen > MaxEntryName {
		return "", 0, fmt.Errorf("bundle: entry %d: name of %d bytes, limit %d: %w", b.entries, nameLen, MaxEntryName, ErrName)
	}
	var buf [MaxEntryName]byte
	if _, err := io.ReadFull(b.r, buf[:nameLen]); err != nil {
		return "", 0, fmt.Errorf("bundle: entry %d name: %v: %w", b.entries, err, ErrFormat)
	}
	name := string(buf[:nameLen])
	if err := checkEntryName(name); err != nil {
		return "", 0, fmt.Errorf("bundle: entry %d: %w", b.entries, err)
	}
	if b.seen[name] {
		return "", 0, fmt.Errorf("bundle: entry %q appears twice: %w", name, ErrFormat)
	}
	b.seen[name] = true
	var sz [8]byte
	if _, err := io.ReadFull(b.r, sz[:]); err != nil {
		return "", 0, fmt.Errorf("bundle: entry %q size: %v: %w", name, err, ErrFormat)
	}
	size := binary.BigEndian.Uint64(sz[:])
	if size > MaxComponentSize {
		return "", 0, fmt.Errorf("bundle: entry %q: size %d over %d: %w", name, size, int64(MaxComponentSize), ErrFormat)
	}
	b.entries++
	b.cur = io.LimitedReader{R: b.r, N: int64(size)}
	return name, int64(size), nil
}

// Read reads the current entry's data.
func (b *bundleReader) Read(p []byte) (int, error) {
	if b.cur.N <= 0 {
		return 0, io.EOF
	}
	n, err := b.cur.Read(p)
	if err == io.EOF && b.cur.N > 0 {
		return n, fmt.Errorf("bundle: entry ends %d bytes early (truncated bundle): %w", b.cur.N, ErrLength)
	}
	return n, err
}

// readSmall reads the whole current entry if it is at most limit bytes,
// allocating only after that check.
func (b *bundleReader) readSmall(name string, size, limit int64) ([]byte, error) {
	if size > limit {
		return nil, fmt.Errorf("bundle: %s: %d bytes, limit %d: %w", name, size, limit, ErrLength)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(b, data); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = fmt.Errorf("%v: %w", err, ErrLength)
		}
		return nil, fmt.Errorf("bundle: %s: %w", name, err)
	}
	return data, nil
}

// bundleWriter writes a container. It checks nothing about names, so tests
// can build hostile bundles with it; BuildBundle checks before writing.
type bundleWriter struct {
	w   io.Writer
	err error
}

func newBundleWriter(w io.Writer) *bundleWriter {
	bw := &bundleWriter{w: w}
	_, bw.err = io.WriteString(w, bundleMagic)
	return bw
}

// add writes an entry declaring size bytes and copying r (which should
// hold exactly size bytes; tests lie on purpose).
func (bw *bundleWriter) add(name string, size int64, r io.Reader) error {
	if bw.err != nil {
		return bw.err
	}
	var hdr []byte
	hdr = binary.BigEndian.AppendUint16(hdr, uint16(len(name)))
	hdr = append(hdr, name...)
	hdr = binary.BigEndian.AppendUint64(hdr, uint64(size))
	if _, bw.err = bw.w.Write(hdr); bw.err != nil {
		return bw.err
	}
	_, bw.err = io.Copy(bw.w, r)
	return bw.err
}

func (bw *bundleWriter) close() error {
	if bw.err != nil {
		return bw.err
	}
	_, bw.err = bw.w.Write([]byte{0, 0})
	return bw.err
}
