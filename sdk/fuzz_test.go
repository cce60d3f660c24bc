package sdk

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/speakez/barewire/mmapmodel"
)

var (
	fuzzOnce sync.Once
	fuzzDir  string
	fuzzErr  error
)

// rewriteParams copies the model at src to dst with param key set to v.
func rewriteParams(src, dst, key string, v mmapmodel.Param) error {
	m, err := mmapmodel.Open(src)
	if err != nil {
		return err
	}
	defer m.Close()
	ps := slices.DeleteFunc(slices.Clone(m.Params()), func(p mmapmodel.Param) bool { return p.Key == key })
	if key != "" {
		v.Key = key
		ps = append(ps, v)
	}
	w := mmapmodel.NewWriter(dst, m.Arch(), ps)
	for _, c := range m.Components() {
		w.BeginComponent(c.Slot)
		for _, tn := range c.Tensors {
			view, err := mmapmodel.NewView[uint8](tn)
			if err != nil {
				return err
			}
			spec := mmapmodel.TensorSpec{Name: tn.Name, DType: tn.DType, Shape: tn.Shape, Scale: tn.Scale, Data: bytesReader(slices.Clone(view.Data()))}
			view.Release()
			if tn.DType == mmapmodel.I8 {
				im, err := mmapmodel.NewInt8Matrix(tn)
				if err != nil {
					return err
				}
				spec.Scales = slices.Clone(im.Scales())
				im.Release()
			}
			w.Add(spec)
		}
	}
	_, err = w.Commit()
	return err
}

// FuzzOpenParams gives Open well-formed files whose hyper-parameters
// disagree with their tensors: it must return an error or a model that
// runs, never panic.
func FuzzOpenParams(f *testing.F) {
	keys := []string{"vocab_size", "hidden_size", "num_layers", "num_heads", "num_kv_heads", "head_dim",
		"intermediate_size", "context_length", "rms_norm_eps", "rope_theta", "hidden_act", "input_dim", "num_classes", "activation", "norm_eps"}
	for i := range keys {
		f.Add(uint8(0), uint8(i), int64(0), "")
		f.Add(uint8(1), uint8(i), int64(3), "silu")
		f.Add(uint8(2), uint8(i), int64(-1), "x")
		f.Add(uint8(0), uint8(i), int64(1)<<40, "relu2")
	}
	f.Fuzz(func(t *testing.T, model, key uint8, iv int64, sv string) {
		fuzzOnce.Do(func() {
			fuzzDir, fuzzErr = os.MkdirTemp("", "sdk-fuzz")
			for _, n := range []string{SyntheticBitNetTiny, SyntheticMMFreeTiny} {
				if fuzzErr == nil {
					fuzzErr = WriteSynthetic(filepath.Join(fuzzDir, n+".bwm"), n, SyntheticOptions{})
				}
			}
		})
		if fuzzErr != nil {
			t.Fatal(fuzzErr)
		}
		src := []string{filepath.Join(fuzzDir, SyntheticBitNetTiny+".bwm"), filepath.Join(fuzzDir, SyntheticMMFreeTiny+".bwm"),
			filepath.Join("..", "testdata", "mlp-tiny.bwm")}[int(model)%3]
		k := keys[int(key)%len(keys)]
		var p mmapmodel.Param
		switch {
		case sv != "" && iv%3 == 0:
			p = mmapmodel.StringParam(k, sv)
		case iv%3 == 1:
			p = mmapmodel.FloatParam(k, float64(iv)/7)
		default:
			p = mmapmodel.IntParam(k, iv)
		}
		dst := filepath.Join(t.TempDir(), "m.bwm")
		if err := rewriteParams(src, dst, k, p); err != nil {
			return // the writer refused the parameter
		}
		m, err := Open(dst)
		if err != nil {
			return
		}
		defer m.Close()
		ctx := context.Background()
		if m.Classes() > 0 {
			if _, _, err := m.Classify(ctx, make([]float32, m.Inputs())); err != nil {
				t.Fatalf("opened classifier fails: %v", err)
			}
			return
		}
		s, err := m.NewSession(WithContextLength(8))
		if err != nil {
			t.Fatalf("opened model gives no session: %v", err)
		}
		if _, err := s.Forward(ctx, []int{1, 2, 3}); err != nil {
			t.Fatalf("opened model fails: %v", err)
		}
	})
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fuzzDir != "" {
		os.RemoveAll(fuzzDir)
	}
	os.Exit(code)
}
