package serve

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/speakez/barewire/mmapmodel"
	"github.com/speakez/barewire/update"
)

// handleUpdate takes a bundle as the request body, streams it to a
// temporary file (bounded by MaxBundleBytes: 413 beyond) and applies it.
// The running release is untouched by any failure.
func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Store == nil {
		writeError(w, &RequestError{Status: http.StatusNotImplemented, Type: "not_implemented", Message: ErrNoStore.Error()})
		return
	}
	if r.ContentLength > s.cfg.MaxBundleBytes {
		s.metrics.updateFailures.WithLabelValues("size").Inc()
		writeError(w, tooLarge(s.cfg.MaxBundleBytes))
		return
	}
	// One update at a time, from the upload on: a second upload would
	// only fill the disk while the first is applied.
	if !s.updateMu.TryLock() {
		s.metrics.updateFailures.WithLabelValues("busy").Inc()
		writeError(w, &RequestError{Status: http.StatusConflict, Type: "conflict_error", Message: ErrBusy.Error()})
		return
	}
	defer s.updateMu.Unlock()
	// The store's temporary prefix: Recover removes an upload left by a
	// crash.
	tmp, err := os.CreateTemp(s.cfg.Store.Dir(), ".tmp-upload-*.bwb")
	if err != nil {
		writeError(w, err)
		return
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, http.MaxBytesReader(w, r.Body, s.cfg.MaxBundleBytes))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.metrics.updateFailures.WithLabelValues("size").Inc()
			writeError(w, tooLarge(s.cfg.MaxBundleBytes))
			return
		}
		writeError(w, &RequestError{Status: http.StatusBadRequest, Type: "invalid_request_error", Message: "reading bundle: " + err.Error()})
		return
	}
	res, err := s.applyLocked(r.Context(), tmp.Name())
	if err != nil {
		status, typ := updateStatus(err)
		writeError(w, &RequestError{Status: status, Type: typ, Message: fmt.Sprintf("update refused, release %q still serving: %v", s.live.Current(), err)})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// Status is the body of GET /admin/v1/status.
type Status struct {
	Model    string          `json:"model"`
	Arch     string          `json:"arch,omitempty"`
	Current  string          `json:"current"`
	Swaps    int64           `json:"swaps"`
	Draining []DrainingJSON  `json:"draining"`
	State    *update.State   `json:"state,omitempty"`
	Last     *UpdateResult   `json:"last_update,omitempty"`
	Inflight int             `json:"inflight"`
	Queued   int64           `json:"queued"`
	Uptime   float64         `json:"uptime_seconds"`
	Ready    bool            `json:"ready"`
	Slots    []SlotComponent `json:"slots,omitempty"`
}

// DrainingJSON is a retired release still pinned.
type DrainingJSON struct {
	Release string  `json:"release"`
	Pins    int64   `json:"pins"`
	Seconds float64 `json:"seconds"`
	Alarmed bool    `json:"alarmed"`
}

// SlotComponent names the component filling a slot of the live release.
type SlotComponent struct {
	Slot string `json:"slot"`
	Key  string `json:"key"`
}

// Status returns a snapshot of what the server serves.
func (s *Server) Status() Status {
	ls := s.live.Stats()
	st := Status{Model: s.cfg.ModelName, Current: ls.Current, Swaps: ls.Swaps, Draining: []DrainingJSON{},
		Inflight: len(s.slots), Queued: s.waiting.Load(), Uptime: time.Since(s.started).Seconds(), Ready: s.Ready()}
	for _, d := range ls.Draining {
		st.Draining = append(st.Draining, DrainingJSON{d.ID, d.Pins, time.Since(d.Since).Seconds(), d.Alarmed})
	}
	if rel, unpin, err := s.live.Acquire(); err == nil {
		st.Arch = s.cfg.Engine.Info(rel).Arch
		for _, slot := range rel.Slots() {
			m, _ := rel.Mapping(slot)
			st.Slots = append(st.Slots, SlotComponent{slot, m.Key()})
		}
		unpin()
	}
	if s.cfg.Store != nil {
		if state, err := s.cfg.Store.State(); err == nil {
			st.State = &state
		}
	}
	s.mu.Lock()
	st.Last = s.lastUpdate
	s.mu.Unlock()
	return st
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Status())
}

// LiveDir is the directory, inside the store, where a store release is
// laid out as a release directory that mmapmodel opens: manifest.json and
// hard links to the store's component files. Hard links, not copies: the
// bytes mapped are the bytes the store verified, and no file is written
// twice.
const LiveDir = "live"

// storeSource describes store release id for the engine, laying it out
// under LiveDir first.
func (s *Server) storeSource(id string) (Source, error) {
	st := s.cfg.Store
	m, err := st.Release(id)
	if err != nil {
		return Source{}, err
	}
	dir, err := Materialize(st, m)
	if err != nil {
		return Source{}, err
	}
	return Source{ID: id, Path: dir, Manifest: m, ObjectPath: st.ObjectPath}, nil
}

// Materialize lays out release m of store st as a release directory
// (st.Dir()/live/<id>/) and returns its path. An existing one is reused
// when every component file in it is still the store's object (the same
// inode), and rebuilt otherwise; a new one is built under a temporary
// name, synced and renamed, so a crash leaves either nothing or a complete
// directory.
func Materialize(st *update.Store, m *update.ReleaseManifest) (string, error) {
	base := filepath.Join(st.Dir(), LiveDir)
	dir := filepath.Join(base, m.ID)
	if _, err := os.Stat(filepath.Join(dir, mmapmodel.ManifestName)); err == nil {
		if linksIntact(st, m, dir) {
			return dir, nil
		}
		if err := os.RemoveAll(dir); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(base, 0o700); err != nil {
		return "", err
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(base, ".tmp-"+m.ID+"-"+hex.EncodeToString(rnd[:]))
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return "", err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	params, err := ManifestParams(m.Params)
	if err != nil {
		return "", fmt.Errorf("release %q: %w", m.ID, err)
	}
	man := mmapmodel.Manifest{Format: mmapmodel.ManifestFormat, Version: mmapmodel.ManifestVersion, Arch: m.Arch, Params: params}
	for _, slot := range m.SlotNames() {
		c := m.Slots[slot]
		man.Components = append(man.Components, mmapmodel.ManifestComponent{Slot: slot, SHA256: c.SHA256, Size: c.Length})
	}
	linked := map[string]bool{}
	for _, c := range man.Components {
		if linked[c.SHA256] {
			continue
		}
		linked[c.SHA256] = true
		if err := os.Link(st.ObjectPath(c.SHA256), filepath.Join(tmp, c.FileName())); err != nil {
			return "", fmt.Errorf("release %q: %w", m.ID, err)
		}
	}
	data, err := man.Marshal()
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(filepath.Join(tmp, mmapmodel.ManifestName), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	if d, err := os.Open(tmp); err == nil { // the links and the manifest's entry, before the name
		err = d.Sync()
		d.Close()
		if err != nil {
			return "", err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	ok = true
	if d, err := os.Open(base); err == nil {
		d.Sync()
		d.Close()
	}
	return dir, nil
}

// linksIntact reports whether every component file of release m in dir is
// the store's object itself (a hard link to the verified inode).
func linksIntact(st *update.Store, m *update.ReleaseManifest, dir string) bool {
	for _, slot := range m.SlotNames() {
		c := m.Slots[slot]
		name := mmapmodel.ManifestComponent{Slot: slot, SHA256: c.SHA256, Size: c.Length}.FileName()
		a, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return false
		}
		b, err := os.Stat(st.ObjectPath(c.SHA256))
		if err != nil || !os.SameFile(a, b) {
			return false
		}
	}
	return true
}

// cleanupStore removes what no release in the state needs: the store's
// unreferenced files (GC) and the release directories under LiveDir of
// releases no longer current, previous or pending. Unlinking a file that a
// draining release still maps is safe: the inode lives until it is
// unmapped (reference/ota.md §2.1).
func (s *Server) cleanupStore() {
	st := s.cfg.Store
	if _, err := st.GC(); err != nil {
		s.log.Warn("store gc", "error", err)
		return
	}
	state, err := st.State()
	if err != nil {
		return
	}
	keep := map[string]bool{state.Current: true, state.Previous: true, state.Pending: true}
	base := filepath.Join(st.Dir(), LiveDir)
	ents, _ := os.ReadDir(base)
	for _, e := range ents {
		if !keep[e.Name()] {
			os.RemoveAll(filepath.Join(base, e.Name()))
		}
	}
}

// ManifestParams converts a signed release's parameters (JSON scalars) to
// the model format's typed parameters: a string is a string, a number with
// a fraction or exponent is a float, any other number an int. ReleaseParams
// is the inverse, used when a bundle is built.
func ManifestParams(ps map[string]json.RawMessage) ([]mmapmodel.ManifestParam, error) {
	keys := make([]string, 0, len(ps))
	for k := range ps {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]mmapmodel.ManifestParam, 0, len(ps))
	for _, k := range keys {
		raw := strings.TrimSpace(string(ps[k]))
		p := mmapmodel.ManifestParam{Key: k}
		switch {
		case strings.HasPrefix(raw, `"`):
			var s string
			if err := json.Unmarshal([]byte(raw), &s); err != nil {
				return nil, fmt.Errorf("param %q: %w", k, err)
			}
			p.String = &s
		case strings.ContainsAny(raw, ".eE"):
			f, err := strconv.ParseFloat(raw, 64)
			if err != nil {
				return nil, fmt.Errorf("param %q: %w", k, err)
			}
			p.Float = &f
		default:
			i, err := strconv.ParseInt(raw, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("param %q: %q is not an int64, float or string", k, truncate(raw))
			}
			p.Int = &i
		}
		out = append(out, p)
	}
	return out, nil
}

// ReleaseParams converts typed model parameters to the JSON scalars of a
// release manifest; floats always carry a fraction or exponent so that
// ManifestParams reads them back as floats.
func ReleaseParams(ps []mmapmodel.ManifestParam) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for _, p := range ps {
		switch {
		case p.Int != nil:
			out[p.Key] = json.RawMessage(strconv.FormatInt(*p.Int, 10))
		case p.Float != nil:
			s := strconv.FormatFloat(*p.Float, 'g', -1, 64)
			if !strings.ContainsAny(s, ".eE") {
				s += ".0"
			}
			out[p.Key] = json.RawMessage(s)
		case p.String != nil:
			b, _ := json.Marshal(*p.String)
			out[p.Key] = b
		}
	}
	return out
}

// ComponentTensors reads the tensor shapes of a component file (or of the
// components of a model) in the form the release manifest signs; the store
// compares them with the manifest before anything is mapped
// (update.Options.Shapes), and bundle writes them.
func ComponentTensors(path string) ([]update.TensorShape, error) {
	m, err := mmapmodel.Open(path)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	return tensorShapes(m), nil
}

func tensorShapes(m *mmapmodel.Model) []update.TensorShape {
	var out []update.TensorShape
	for _, t := range m.Tensors() {
		shape := make([]int64, len(t.Shape))
		for i, d := range t.Shape {
			shape[i] = int64(d)
		}
		out = append(out, update.TensorShape{Name: t.Name, DType: string(t.DType), Shape: shape})
	}
	return out
}

// VerifyFile is update.Options.Verify for model files: every checksum and
// every padding byte.
func VerifyFile(path string) error {
	m, err := mmapmodel.Open(path)
	if err != nil {
		return err
	}
	defer m.Close()
	return m.Verify()
}

// ReleaseFromModel describes the model at path (a release directory
// written by mmapmodel's ReleaseWriter) as signed
// release id: architecture, parameters, and per slot the component file's
// hash, length and tensor shapes. It returns the manifest and the
// component files by hash, as update.BuildBundle takes them.
func ReleaseFromModel(path, id string) (update.ReleaseManifest, map[string]string, error) {
	rel := update.ReleaseManifest{Format: update.ManifestFormat, ID: id, Slots: map[string]update.Component{}}
	files := map[string]string{}
	m, err := mmapmodel.Open(path)
	if err != nil {
		return rel, nil, err
	}
	defer m.Close()
	if err := m.Verify(); err != nil {
		return rel, nil, err
	}
	rel.Arch = m.Arch()
	man := m.Manifest()
	if man == nil {
		// A single-file model holds no component files to swap one at a
		// time: updates ship release directories.
		return rel, nil, fmt.Errorf("%s is a single-file model; updates are built from a release directory (mmapmodel.ReleaseWriter)", path)
	}
	rel.Params = ReleaseParams(man.Params)
	for _, c := range man.Components {
		p := filepath.Join(path, c.FileName())
		tensors, err := ComponentTensors(p)
		if err != nil {
			return rel, nil, err
		}
		rel.Slots[c.Slot] = update.Component{SHA256: c.SHA256, Length: c.Size, Tensors: tensors}
		files[c.SHA256] = p
	}
	return rel, files, rel.Validate()
}
