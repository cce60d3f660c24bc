package convert

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/speakez/barewire/sdk/internal/reference"
)

// FuzzConfigJSON feeds arbitrary config.json bytes beside a small valid
// BitNet checkpoint: Convert must refuse or succeed, never panic, never
// allocate from an absurd size, and leave an output only on success.
func FuzzConfigJSON(f *testing.F) {
	cfg, _ := reference.SmallBitNetConfig("2B4T")
	cfg.Vocab = 128
	ref, err := reference.RandomBitNet(cfg, 1)
	if err != nil {
		f.Fatal(err)
	}
	base := f.TempDir()
	writeHFDir(f, base, bitnetConfigJSON(cfg, hfBF16), bitnetSafetensors(f, ref, hfBF16, 0), 1, "")
	weights, err := os.ReadFile(filepath.Join(base, "model.safetensors"))
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range []map[string]any{bitnetConfigJSON(cfg, hfBF16), bitnetConfigJSON(cfg, hfLatent), mmfreeConfigJSON(reference.SmallMMFreeConfig())} {
		b, _ := json.Marshal(c)
		f.Add(b)
	}
	f.Add([]byte(`{"architectures":["BitNetForCausalLM"],"num_hidden_layers":2000000000,"hidden_size":16777216}`))
	f.Add([]byte(`{"model_type":"hgrn_bit","vocab_size":128,"hidden_size":32,"num_hidden_layers":2,"hidden_ratio":1e300}`))
	f.Fuzz(func(t *testing.T, config []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "config.json"), config, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "model.safetensors"), weights, 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "out.bwm")
		_, err := Convert(context.Background(), dir, out, Options{})
		if _, serr := os.Stat(out); (err == nil) != (serr == nil) {
			t.Fatalf("Convert error %v, output stat %v", err, serr)
		}
	})
}
