package train

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/speakez/barewire/mmapmodel"
	"github.com/speakez/barewire/sdk"
	"github.com/speakez/barewire/sdk/train/mnist"
)

// Shipped model files (testdata/ at the repository root) and the quality
// their model cards state.
var (
	shippedMNIST  = filepath.Join("..", "..", "testdata", "mnist-mlp.bwm")
	shippedCharLM = filepath.Join("..", "..", "testdata", "charlm.bwm")
)

const (
	minMNISTAccuracy = 0.980
	maxCharLMBPC     = 2.0
)

// The shipped MNIST model, run by the sdk on the 10,000 test images, must
// classify at least 98.0% of them correctly, with every weight matrix
// ternary and the file under 4 MiB.
func TestShippedMNISTAccuracy(t *testing.T) {
	st, err := os.Stat(shippedMNIST)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() >= 4<<20 {
		t.Errorf("%s is %d bytes, want under 4 MiB", shippedMNIST, st.Size())
	}
	test, err := mnist.LoadTest()
	if err != nil {
		t.Fatal(err)
	}
	m, err := sdk.Open(shippedMNIST)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, tn := range m.File().Tensors() {
		if len(tn.Shape) == 2 && tn.DType != mmapmodel.T2 {
			t.Errorf("matrix %s has dtype %s, want t2 (ternary)", tn.Name, tn.DType)
		}
	}
	x := make([]float32, mnist.Pixels)
	scores := make([]float32, m.Classes())
	correct := 0
	for i, img := range test.Images {
		for p, v := range img {
			x[p] = float32(v)
		}
		label, err := m.ClassifyInto(context.Background(), scores, x)
		if err != nil {
			t.Fatal(err)
		}
		if label == int(test.Labels[i]) {
			correct++
		}
	}
	acc := float64(correct) / float64(test.Len())
	t.Logf("%s: test accuracy %.4f (%d/%d)", shippedMNIST, acc, correct, test.Len())
	if acc < minMNISTAccuracy {
		t.Fatalf("test accuracy %.4f below %.3f", acc, minMNISTAccuracy)
	}
}

// opticks is the corpus the shipped char LM was trained on.
func opticks(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "src", "testdata", "Isaac.Newton-Opticks.txt"))
	if err != nil {
		t.Skipf("corpus not found: %v", err)
	}
	return string(b)
}

// The shipped char LM, run by the sdk over the held-out passages of
// Opticks (each from a fresh state), must reach at most 2.0 bits per
// character.
func TestShippedCharLMBPC(t *testing.T) {
	st, err := os.Stat(shippedCharLM)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() >= 4<<20 {
		t.Errorf("%s is %d bytes, want under 4 MiB", shippedCharLM, st.Size())
	}
	c := NewCharCorpus(opticks(t), CharLMHeldOutEvery, CharLMBlock)
	m, err := sdk.Open(shippedCharLM)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Arch() != sdk.ArchMMFree {
		t.Fatalf("arch %q", m.Arch())
	}
	s, err := m.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var nats float64
	n := 0
	for _, ids := range c.HeldOut {
		s.Reset()
		err = s.ForwardEach(context.Background(), ids[:len(ids)-1], func(pos int, logits []float32) {
			nats += logSoftmaxAt(logits, ids[pos+1])
		})
		if err != nil {
			t.Fatal(err)
		}
		n += len(ids) - 1
	}
	bpc := nats / float64(n) / math.Ln2
	t.Logf("%s: held-out %.4f bits per character over %d predictions in %d passages", shippedCharLM, bpc, n, len(c.HeldOut))
	if bpc > maxCharLMBPC {
		t.Fatalf("held-out %.4f bpc above %.1f", bpc, maxCharLMBPC)
	}
}
