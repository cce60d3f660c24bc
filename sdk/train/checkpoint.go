package train

import (
	"bufio"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// checkpointMagic starts every checkpoint file; the version follows it.
const checkpointMagic = "BWTRAIN1"

// ErrCheckpoint is returned for a checkpoint that does not fit the model
// being trained (another kind, missing or differently sized parameters).
var ErrCheckpoint = errors.New("checkpoint does not match the model")

// checkpoint is the file's content after the magic, gob-encoded: the
// training position, the optimizer's step and every parameter with its
// AdamW moments.
type checkpoint struct {
	Kind   string // "mlp", "charlm": what was trained
	Step   int
	Adam   AdamW
	Params []savedParam
}

type savedParam struct {
	Name    string
	W, M, V []float32
}

// SaveCheckpoint writes the training state atomically (temporary file,
// fsync, rename), so an interrupted save leaves the previous checkpoint.
func SaveCheckpoint(path, kind string, step int, opt *AdamW, ps []*Param) error {
	ck := checkpoint{Kind: kind, Step: step, Adam: *opt}
	for _, p := range ps {
		ck.Params = append(ck.Params, savedParam{Name: p.Name, W: p.W, M: p.M, V: p.V})
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ckpt-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriter(tmp)
	bw.WriteString(checkpointMagic)
	if err := gob.NewEncoder(bw).Encode(&ck); err != nil {
		tmp.Close()
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
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
	return os.Rename(tmp.Name(), path)
}

// LoadCheckpoint restores the parameters and optimizer state saved by
// SaveCheckpoint and returns the step to continue from.
func LoadCheckpoint(path, kind string, opt *AdamW, ps []*Param) (step int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic := make([]byte, len(checkpointMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != checkpointMagic {
		return 0, fmt.Errorf("checkpoint %s: not a checkpoint file: %w", path, ErrCheckpoint)
	}
	var ck checkpoint
	if err := gob.NewDecoder(br).Decode(&ck); err != nil {
		return 0, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if ck.Kind != kind {
		return 0, fmt.Errorf("checkpoint %s holds a %q model, want %q: %w", path, ck.Kind, kind, ErrCheckpoint)
	}
	byName := map[string]savedParam{}
	for _, s := range ck.Params {
		byName[s.Name] = s
	}
	if len(byName) != len(ps) {
		return 0, fmt.Errorf("checkpoint %s has %d parameters, model %d: %w", path, len(byName), len(ps), ErrCheckpoint)
	}
	for _, p := range ps {
		s, ok := byName[p.Name]
		if !ok || len(s.W) != len(p.W) || len(s.M) != len(p.M) || len(s.V) != len(p.V) {
			return 0, fmt.Errorf("checkpoint %s: parameter %q missing or of another size: %w", path, p.Name, ErrCheckpoint)
		}
	}
	for _, p := range ps {
		s := byName[p.Name]
		copy(p.W, s.W)
		copy(p.M, s.M)
		copy(p.V, s.V)
	}
	*opt = ck.Adam
	return ck.Step, nil
}
