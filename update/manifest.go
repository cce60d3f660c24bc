package update

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
)

// ManifestFormat is the value of ReleaseManifest.Format this package writes
// and accepts.
const ManifestFormat = "barewire-release/1"

// Limits on a release manifest. The decoder refuses input past them before
// building anything from it, so a hostile manifest cannot make the agent
// allocate without bound (reference/ota.md §5 item 10).
const (
	MaxManifestSize    = 1 << 20 // bytes of JSON
	MaxSlots           = 4096
	MaxTensorsPerSlot  = 1024
	MaxTensors         = 65536 // over all slots
	MaxParams          = 256
	MaxParamValueBytes = 256
	MaxDims            = 8
	MaxComponentSize   = 1 << 40 // 1 TiB: larger than any edge model
	maxNameLen         = 128
	maxTensorNameLen   = 256
)

// ReleaseManifest names a release: the architecture, its hyper-parameters
// and, for each slot of the graph, the component file that fills it (by
// content hash and exact length) with a summary of its tensors' shapes.
// The shapes let the agent refuse a component that does not fit the
// running graph before the file is ever mapped (DeepStream's "same network
// parameters" rule made explicit; reference/ota.md §3.3).
type ReleaseManifest struct {
	Format string `json:"format"`
	// ID names the release; it is also its file name under releases/.
	ID   string `json:"id"`
	Arch string `json:"arch"`
	// Params are the architecture's hyper-parameters, each a JSON number,
	// string or boolean.
	Params map[string]json.RawMessage `json:"params,omitempty"`
	Slots  map[string]Component       `json:"slots"`
}

// Component is the file that fills one slot.
type Component struct {
	// SHA256 is the lowercase hex SHA-256 of the file's bytes.
	SHA256 string `json:"sha256"`
	// Length is the exact file size in bytes.
	Length  int64         `json:"length"`
	Tensors []TensorShape `json:"tensors"`
}

// TensorShape summarizes one tensor of a component.
type TensorShape struct {
	Name  string  `json:"name"`
	DType string  `json:"dtype"`
	Shape []int64 `json:"shape"`
}

// ObjectName is the store's file name for the component: the content hash
// with a prefix naming the algorithm, so a later algorithm can sit beside it.
func (c Component) ObjectName() string { return objectName(c.SHA256) }

func objectName(sha string) string { return "sha256-" + sha + ".bwm" }

// Objects returns the distinct components of the release, sorted by hash.
func (m *ReleaseManifest) Objects() []Component {
	seen := map[string]bool{}
	var out []Component
	for _, c := range m.Slots {
		if !seen[c.SHA256] {
			seen[c.SHA256] = true
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].SHA256 < out[j].SHA256 })
	return out
}

// SlotNames returns the slot names, sorted.
func (m *ReleaseManifest) SlotNames() []string {
	names := make([]string, 0, len(m.Slots))
	for n := range m.Slots {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Encode returns the manifest as JSON after validating it. Map keys are
// sorted by encoding/json, so equal manifests encode to equal bytes.
func (m *ReleaseManifest) Encode() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("release %q: encode manifest: %w", m.ID, err)
	}
	return append(b, '\n'), nil
}

// DecodeReleaseManifest parses and validates a manifest strictly: at most
// MaxManifestSize bytes, no unknown fields, one JSON value, and every
// field within the limits above.
func DecodeReleaseManifest(data []byte) (*ReleaseManifest, error) {
	if len(data) > MaxManifestSize {
		return nil, fmt.Errorf("release manifest: %d bytes, limit %d: %w", len(data), MaxManifestSize, ErrFormat)
	}
	var m ReleaseManifest
	if err := decodeStrict(data, &m); err != nil {
		return nil, fmt.Errorf("release manifest: %v: %w", err, ErrFormat)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// decodeStrict decodes exactly one JSON value with no unknown fields.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("data after the JSON value")
	}
	return nil
}

// Validate checks every field of the manifest; the error names the slot,
// tensor and field at fault and wraps ErrFormat or ErrName.
func (m *ReleaseManifest) Validate() error {
	if m.Format != ManifestFormat {
		return fmt.Errorf("release manifest: format %q, want %q: %w", m.Format, ManifestFormat, ErrFormat)
	}
	if err := checkName("release id", m.ID); err != nil {
		return err
	}
	if err := checkName("release "+m.ID+": arch", m.Arch); err != nil {
		return err
	}
	if len(m.Params) > MaxParams {
		return fmt.Errorf("release %q: %d params, limit %d: %w", m.ID, len(m.Params), MaxParams, ErrFormat)
	}
	for k, v := range m.Params {
		if err := checkName(fmt.Sprintf("release %q: param", m.ID), k); err != nil {
			return err
		}
		if err := checkScalar(v); err != nil {
			return fmt.Errorf("release %q: param %q: %v: %w", m.ID, k, err, ErrFormat)
		}
	}
	if len(m.Slots) == 0 || len(m.Slots) > MaxSlots {
		return fmt.Errorf("release %q: %d slots, want 1..%d: %w", m.ID, len(m.Slots), MaxSlots, ErrFormat)
	}
	total := 0
	for _, name := range m.SlotNames() {
		c := m.Slots[name]
		where := fmt.Sprintf("release %q: slot %q", m.ID, name)
		if err := checkName(where, name); err != nil {
			return err
		}
		if !isHexSHA256(c.SHA256) {
			return fmt.Errorf("%s: sha256 %q is not 64 lowercase hex digits: %w", where, c.SHA256, ErrFormat)
		}
		if c.Length <= 0 || c.Length > MaxComponentSize {
			return fmt.Errorf("%s: length %d, want 1..%d: %w", where, c.Length, int64(MaxComponentSize), ErrFormat)
		}
		if len(c.Tensors) == 0 || len(c.Tensors) > MaxTensorsPerSlot {
			return fmt.Errorf("%s: %d tensors, want 1..%d: %w", where, len(c.Tensors), MaxTensorsPerSlot, ErrFormat)
		}
		total += len(c.Tensors)
		if total > MaxTensors {
			return fmt.Errorf("%s: more than %d tensors in the release: %w", where, MaxTensors, ErrFormat)
		}
		for i, t := range c.Tensors {
			if err := t.validate(fmt.Sprintf("%s: tensor %d", where, i)); err != nil {
				return err
			}
		}
	}
	// One file has one content: two slots naming the same hash must agree
	// on what is in it.
	byHash := map[string]Component{}
	for _, name := range m.SlotNames() {
		c := m.Slots[name]
		if prev, ok := byHash[c.SHA256]; ok && (prev.Length != c.Length || !sameTensors(prev.Tensors, c.Tensors)) {
			return fmt.Errorf("release %q: slot %q: component %s described twice differently: %w", m.ID, name, c.SHA256, ErrFormat)
		}
		byHash[c.SHA256] = c
	}
	return nil
}

func (t TensorShape) validate(where string) error {
	if t.Name == "" || len(t.Name) > maxTensorNameLen {
		return fmt.Errorf("%s: name length %d, want 1..%d: %w", where, len(t.Name), maxTensorNameLen, ErrFormat)
	}
	for _, r := range t.Name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s: name %q has a control character: %w", where, t.Name, ErrFormat)
		}
	}
	if t.DType == "" || len(t.DType) > 16 {
		return fmt.Errorf("%s (%s): dtype %q: %w", where, t.Name, t.DType, ErrFormat)
	}
	for _, r := range t.DType {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return fmt.Errorf("%s (%s): dtype %q: %w", where, t.Name, t.DType, ErrFormat)
		}
	}
	if len(t.Shape) == 0 || len(t.Shape) > MaxDims {
		return fmt.Errorf("%s (%s): %d dims, want 1..%d: %w", where, t.Name, len(t.Shape), MaxDims, ErrFormat)
	}
	for i, d := range t.Shape {
		if d <= 0 || d > MaxComponentSize {
			return fmt.Errorf("%s (%s): dim %d is %d: %w", where, t.Name, i, d, ErrFormat)
		}
	}
	return nil
}

func checkScalar(v json.RawMessage) error {
	if len(v) == 0 || len(v) > MaxParamValueBytes {
		return fmt.Errorf("value of %d bytes, want 1..%d", len(v), MaxParamValueBytes)
	}
	switch c := v[0]; {
	case c == '"', c == '-', c >= '0' && c <= '9', c == 't', c == 'f':
		return nil
	}
	return fmt.Errorf("value %s is not a number, string or boolean", v)
}

// checkName accepts names that are safe as one path element and as a
// metric label: 1..128 of [A-Za-z0-9._-], not starting with '.' or '-'.
func checkName(what, s string) error {
	if s == "" || len(s) > maxNameLen {
		return fmt.Errorf("%s %q: length %d, want 1..%d: %w", what, s, len(s), maxNameLen, ErrName)
	}
	if s[0] == '.' || s[0] == '-' {
		return fmt.Errorf("%s %q: must not start with %q: %w", what, s, s[0], ErrName)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%s %q: byte %d (%q) not in [A-Za-z0-9._-]: %w", what, s, i, c, ErrName)
		}
	}
	return nil
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

func sameTensors(a, b []TensorShape) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].DType != b[i].DType || len(a[i].Shape) != len(b[i].Shape) {
			return false
		}
		for j := range a[i].Shape {
			if a[i].Shape[j] != b[i].Shape[j] {
				return false
			}
		}
	}
	return true
}

// CompatCheck decides whether release next may replace running (nil when
// nothing runs yet). It runs on the signed manifest, before any component
// is written or mapped.
type CompatCheck func(running, next *ReleaseManifest) error

// SameShapes is the default CompatCheck: the same architecture, the same
// slots, and in every slot the same tensors (names, dtypes, shapes). A
// release that changes a component's kind needs a CompatCheck that knows
// how the graph adapts.
func SameShapes(running, next *ReleaseManifest) error {
	if running == nil {
		return nil
	}
	if running.Arch != next.Arch {
		return fmt.Errorf("release %q: arch %q, running release %q has %q: %w", next.ID, next.Arch, running.ID, running.Arch, ErrShape)
	}
	for _, name := range running.SlotNames() {
		if _, ok := next.Slots[name]; !ok {
			return fmt.Errorf("release %q: slot %q of running release %q missing: %w", next.ID, name, running.ID, ErrShape)
		}
	}
	for _, name := range next.SlotNames() {
		rc, ok := running.Slots[name]
		if !ok {
			return fmt.Errorf("release %q: slot %q unknown to running release %q: %w", next.ID, name, running.ID, ErrShape)
		}
		if err := compareTensors(rc.Tensors, next.Slots[name].Tensors); err != nil {
			return fmt.Errorf("release %q: slot %q: %v: %w", next.ID, name, err, ErrShape)
		}
	}
	return nil
}

// SameTensors checks next against a model that is not a release of the
// store (the file an agent was started with, before its first update):
// the same architecture, and across all of next's slots the same tensors
// (names, dtypes, shapes) as tensors, in any order and any split into
// components. what names the model in errors.
func SameTensors(what, arch string, tensors []TensorShape, next *ReleaseManifest) error {
	if arch != next.Arch {
		return fmt.Errorf("release %q: arch %q, %s has %q: %w", next.ID, next.Arch, what, arch, ErrShape)
	}
	want := make(map[string]TensorShape, len(tensors))
	for _, t := range tensors {
		want[t.Name] = t
	}
	seen := make(map[string]bool, len(want))
	for _, name := range next.SlotNames() {
		for _, g := range next.Slots[name].Tensors {
			w, ok := want[g.Name]
			switch {
			case seen[g.Name]:
				return fmt.Errorf("release %q: slot %q: tensor %q listed twice: %w", next.ID, name, g.Name, ErrShape)
			case !ok:
				return fmt.Errorf("release %q: slot %q: tensor %q unknown to %s: %w", next.ID, name, g.Name, what, ErrShape)
			case w.DType != g.DType:
				return fmt.Errorf("release %q: slot %q: tensor %q: dtype %s, %s has %s: %w", next.ID, name, g.Name, g.DType, what, w.DType, ErrShape)
			case !slices.Equal(w.Shape, g.Shape):
				return fmt.Errorf("release %q: slot %q: tensor %q: shape %v, %s has %v: %w", next.ID, name, g.Name, g.Shape, what, w.Shape, ErrShape)
			}
			seen[g.Name] = true
		}
	}
	for _, t := range tensors {
		if !seen[t.Name] {
			return fmt.Errorf("release %q: tensor %q of %s missing: %w", next.ID, t.Name, what, ErrShape)
		}
	}
	return nil
}

func compareTensors(want, got []TensorShape) error {
	if len(want) != len(got) {
		return fmt.Errorf("%d tensors, want %d", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if w.Name != g.Name {
			return fmt.Errorf("tensor %d is %q, want %q", i, g.Name, w.Name)
		}
		if w.DType != g.DType {
			return fmt.Errorf("tensor %q: dtype %s, want %s", g.Name, g.DType, w.DType)
		}
		if fmt.Sprint(w.Shape) != fmt.Sprint(g.Shape) {
			return fmt.Errorf("tensor %q: shape %v, want %v", g.Name, g.Shape, w.Shape)
		}
	}
	return nil
}
