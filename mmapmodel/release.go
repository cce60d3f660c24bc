package mmapmodel

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Release directory layout: manifest.json beside the component files, each
// named by the lowercase hex SHA-256 of its bytes plus ".bwm". A file name
// is thus never taken from the manifest as a path, only built from a
// checked 64-digit hash, so a manifest cannot point outside its directory.
const (
	ManifestName    = "manifest.json"
	ManifestFormat  = "barewire-release"
	ManifestVersion = 1
	// MaxManifestSize bounds manifest.json (1 MiB).
	MaxManifestSize = 1 << 20
	// MaxComponents bounds the slots of a release or single file.
	MaxComponents = 4096
	// ComponentExt is the extension of model and component files.
	ComponentExt = ".bwm"
)

// Manifest names a release: its architecture, hyper-parameters, and for
// each graph slot the component file that fills it, by content hash.
type Manifest struct {
	Format     string              `json:"format"`
	Version    int                 `json:"version"`
	Arch       string              `json:"arch"`
	Params     []ManifestParam     `json:"params"`
	Components []ManifestComponent `json:"components"`
}

// ManifestParam is a typed hyper-parameter in JSON: exactly one of Int,
// Float and String is present.
type ManifestParam struct {
	Key    string   `json:"key"`
	Int    *int64   `json:"int,omitempty"`
	Float  *float64 `json:"float,omitempty"`
	String *string  `json:"string,omitempty"`
}

// ManifestComponent is one slot: the SHA-256 (lowercase hex) and size of
// the component file that fills it.
type ManifestComponent struct {
	Slot   string `json:"slot"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// FileName is the component's file name inside the release directory.
func (c ManifestComponent) FileName() string { return c.SHA256 + ComponentExt }

// ParamList converts the manifest's parameters to Params.
func (m *Manifest) ParamList() []Param {
	ps := make([]Param, 0, len(m.Params))
	for _, p := range m.Params {
		switch {
		case p.Int != nil:
			ps = append(ps, IntParam(p.Key, *p.Int))
		case p.Float != nil:
			ps = append(ps, FloatParam(p.Key, *p.Float))
		case p.String != nil:
			ps = append(ps, StringParam(p.Key, *p.String))
		}
	}
	return ps
}

func manifestParams(ps []Param) []ManifestParam {
	out := make([]ManifestParam, len(ps))
	for i, p := range ps {
		out[i].Key = p.Key
		switch p.Type {
		case ParamInt:
			v := p.Int
			out[i].Int = &v
		case ParamFloat:
			v := p.Float
			out[i].Float = &v
		default:
			v := p.String
			out[i].String = &v
		}
	}
	return out
}

// ParseManifest decodes and validates a manifest. path is used in errors.
// Unknown fields, trailing data, a missing or duplicate value, or any rule
// broken is an error wrapping ErrFormat (ErrVersion for a newer version).
func ParseManifest(path string, data []byte) (*Manifest, error) {
	if len(data) > MaxManifestSize {
		return nil, formatErr(path, "", "", "manifest is %d bytes (max %d)", len(data), MaxManifestSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, formatErr(path, "", "", "cannot decode manifest: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, formatErr(path, "", "", "data after the manifest object")
	}
	if m.Format != ManifestFormat {
		return nil, formatErr(path, "", "format", "format %q, want %q", truncate(m.Format), ManifestFormat)
	}
	if m.Version > ManifestVersion {
		return nil, &Error{Path: path, Field: "version", Err: ErrVersion,
			Msg: fmt.Sprintf("manifest version %d is newer than this reader (max %d)", m.Version, ManifestVersion)}
	}
	if m.Version < 1 {
		return nil, formatErr(path, "", "version", "manifest version %d is not valid", m.Version)
	}
	if msg := checkName(m.Arch); msg != "" {
		return nil, formatErr(path, "", "arch", "%s", msg)
	}
	for i, p := range m.Params {
		set := 0
		for _, ok := range []bool{p.Int != nil, p.Float != nil, p.String != nil} {
			if ok {
				set++
			}
		}
		if set != 1 {
			return nil, formatErr(path, "", fmt.Sprintf("params[%d]", i), "parameter %q has %d values, want exactly one of int, float, string", truncate(p.Key), set)
		}
	}
	if err := checkParams(path, m.ParamList()); err != nil {
		return nil, err
	}
	if len(m.Components) == 0 || len(m.Components) > MaxComponents {
		return nil, formatErr(path, "", "components", "%d components, want 1..%d", len(m.Components), MaxComponents)
	}
	slots := make(map[string]bool, len(m.Components))
	hashes := make(map[string]bool, len(m.Components))
	for i, c := range m.Components {
		field := fmt.Sprintf("components[%d]", i)
		if msg := checkName(c.Slot); msg != "" {
			return nil, formatErr(path, "", field+".slot", "%s", msg)
		}
		if slots[c.Slot] {
			return nil, formatErr(path, "", field+".slot", "slot %q appears twice", c.Slot)
		}
		slots[c.Slot] = true
		if !isHexSHA256(c.SHA256) {
			return nil, formatErr(path, "", field+".sha256", "%q is not 64 lowercase hex digits", truncate(c.SHA256))
		}
		if hashes[c.SHA256] {
			return nil, formatErr(path, "", field+".sha256", "file %s fills two slots", c.SHA256)
		}
		hashes[c.SHA256] = true
		if c.Size < PageAlign { // the data region starts at 4096 at the earliest
			return nil, formatErr(path, "", field+".size", "size %d is smaller than any component file", c.Size)
		}
	}
	return &m, nil
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Marshal encodes the manifest as indented JSON with a final newline; the
// output is deterministic.
func (m *Manifest) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// regularFile returns an error when path is missing, a directory or not a
// regular file; what says what the file is for.
func regularFile(path, what string) (fs.FileInfo, error) {
	st, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, formatErr(path, "", "", "%s is missing", what)
	}
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, formatErr(path, "", "", "%s is a directory; a file is expected", what)
	}
	if !st.Mode().IsRegular() {
		return nil, formatErr(path, "", "", "%s is not a regular file (mode %v)", what, st.Mode())
	}
	return st, nil
}

func openRelease(dir string) (*Model, error) {
	mpath := filepath.Join(dir, ManifestName)
	st, err := regularFile(mpath, "release manifest")
	if err != nil {
		return nil, err
	}
	if st.Size() > MaxManifestSize {
		return nil, formatErr(mpath, "", "", "manifest is %d bytes (max %d)", st.Size(), MaxManifestSize)
	}
	data, err := os.ReadFile(mpath)
	if err != nil {
		return nil, err
	}
	man, err := ParseManifest(mpath, data)
	if err != nil {
		return nil, err
	}
	m := &Model{path: dir, kind: KindRelease, arch: man.Arch, params: man.ParamList(), manifest: man}
	for _, c := range man.Components {
		p := filepath.Join(dir, c.FileName())
		st, err := regularFile(p, fmt.Sprintf("component file for slot %q", c.Slot))
		if err != nil {
			m.Close()
			return nil, err
		}
		if st.Size() != c.Size {
			m.Close()
			return nil, &Error{Path: p, Field: "size", Err: ErrChecksum,
				Msg: fmt.Sprintf("component file for slot %q is %d bytes, manifest says %d", c.Slot, st.Size(), c.Size)}
		}
		f, err := openFile(p)
		if err != nil {
			m.Close()
			return nil, err
		}
		f.SHA256 = c.SHA256
		if f.Kind != KindComponent {
			err = formatErr(p, "", "kind", "kind %q in a release, want component", f.Kind)
		} else if f.Arch != man.Arch {
			err = formatErr(p, "", "arch", "architecture %q, manifest says %q", f.Arch, man.Arch)
		} else {
			err = m.addFile(f, c.Slot)
		}
		if err != nil {
			if len(m.files) == 0 || m.files[len(m.files)-1] != f {
				f.m.release()
			}
			m.Close()
			return nil, err
		}
	}
	return m, nil
}
