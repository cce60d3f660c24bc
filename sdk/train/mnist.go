package train

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"

	"github.com/speakez/barewire/sdk/train/mnist"
)

// MNISTOptions configures TrainMNIST. Zero fields take the defaults in
// brackets.
type MNISTOptions struct {
	Hidden      []int   // hidden widths [1024 1024]
	Epochs      int     // passes over the 60,000 training images [8]
	Batch       int     // images per step [128]
	LR          float64 // peak learning rate [2e-3]
	MinLR       float64 // final learning rate [LR/100]
	WeightDecay float64 // AdamW λ on weight matrices [0]
	Warmup      int     // warm-up steps [200]
	Clip        float64 // global gradient-norm clip [1]
	Shift       int     // random translation of each training image, ± pixels [2]
	// Progressive, when set, trains in float first and blends into the
	// ternary model over this ramp (in steps); by default every step is
	// quantized (direct QAT).
	Progressive *Ramp
	Seed        uint64
	// Checkpoint, when set, is written every CheckpointEvery steps
	// [one epoch] and read at start to resume.
	Checkpoint      string
	CheckpointEvery int
	Log             io.Writer // progress lines (nil: silent)
	// StopAfter ends the run after this many steps in this call (0: run to
	// the end); with Checkpoint it tests resumption.
	StopAfter int
}

func (o *MNISTOptions) defaults() {
	if o.Hidden == nil {
		o.Hidden = []int{1024, 1024}
	}
	if o.Epochs == 0 {
		o.Epochs = 8
	}
	if o.Batch == 0 {
		o.Batch = 128
	}
	if o.LR == 0 {
		o.LR = 2e-3
	}
	if o.MinLR == 0 {
		o.MinLR = o.LR / 100
	}
	if o.Warmup == 0 {
		o.Warmup = 200
	}
	if o.Clip == 0 {
		o.Clip = 1
	}
	if o.Shift == 0 {
		o.Shift = 2
	}
}

// MNIST pixel statistics (mean 0.1307, standard deviation 0.3081 of
// pixels scaled to [0,1]) in raw 0..255 units.
const (
	MNISTMean = 0.1307 * 255
	MNISTStd  = 0.3081 * 255
)

// NewMNISTMLP is the MLP TrainMNIST trains.
func NewMNISTMLP(hidden []int, seed uint64) *MLP {
	return NewMLP(MLPConfig{Inputs: mnist.Pixels, Hidden: hidden, Classes: 10, Mean: MNISTMean, Std: MNISTStd,
		Seed: seed, Task: "mnist-digits"})
}

// shiftImage writes img translated by (dx, dy) pixels into dst as floats
// (pixels moved in from outside are 0).
func shiftImage(dst []float32, img []byte, dx, dy int) {
	for r := range mnist.Rows {
		sr := r - dy
		for c := range mnist.Cols {
			sc := c - dx
			v := float32(0)
			if sr >= 0 && sr < mnist.Rows && sc >= 0 && sc < mnist.Cols {
				v = float32(img[sr*mnist.Cols+sc])
			}
			dst[r*mnist.Cols+c] = v
		}
	}
}

// TrainMNIST trains a ternary MLP on the training set and returns it with
// every layer fully quantized (λ = 1). The run is deterministic in Seed:
// the order of each epoch and the translations of each step are drawn
// from generators seeded by (Seed, epoch) and (Seed, step), so a resumed
// run continues exactly where the checkpoint left it.
func TrainMNIST(train, test *mnist.Set, o MNISTOptions) (*MLP, error) {
	o.defaults()
	m := NewMNISTMLP(o.Hidden, o.Seed)
	ps := m.Params()
	opt := NewAdamW(o.WeightDecay)
	perEpoch := train.Len() / o.Batch
	total := perEpoch * o.Epochs
	sched := Schedule{Peak: o.LR, Min: o.MinLR, Warmup: o.Warmup, Total: total}
	ramp := Ramp{}
	if o.Progressive != nil {
		ramp = *o.Progressive
	}
	step := 0
	if o.Checkpoint != "" {
		if s, err := LoadCheckpoint(o.Checkpoint, "mlp", opt, ps); err == nil {
			step = s
			if o.Log != nil {
				fmt.Fprintf(o.Log, "resumed from %s at step %d\n", o.Checkpoint, step)
			}
		} else if !os.IsNotExist(err) {
			return nil, err
		}
	}
	every := o.CheckpointEvery
	if every == 0 {
		every = perEpoch
	}
	prog := &Progress{W: o.Log, Total: total, Unit: "img"}
	prog.Start(step)
	x := make([]float32, o.Batch*mnist.Pixels)
	labels := make([]int, o.Batch)
	var perm []int
	permEpoch := -1
	var lossSum float64
	var lossN, correct, seen int
	start := step
	for ; step < total; step++ {
		if o.StopAfter > 0 && step-start >= o.StopAfter {
			break
		}
		epoch := step / perEpoch
		if epoch != permEpoch {
			perm = rand.New(rand.NewPCG(o.Seed, uint64(epoch)|1<<40)).Perm(train.Len())
			permEpoch = epoch
		}
		r := rand.New(rand.NewPCG(o.Seed, uint64(step)|2<<40))
		base := (step % perEpoch) * o.Batch
		for b := range o.Batch {
			i := perm[base+b]
			dx, dy := r.IntN(2*o.Shift+1)-o.Shift, r.IntN(2*o.Shift+1)-o.Shift
			shiftImage(x[b*mnist.Pixels:(b+1)*mnist.Pixels], train.Images[i], dx, dy)
			labels[b] = int(train.Labels[i])
		}
		m.SetQuant(ramp.At(step))
		ZeroGrad(ps)
		loss, c := m.Loss(x, labels)
		ClipGradNorm(ps, o.Clip)
		opt.Update(ps, sched.At(step))
		prog.Add(o.Batch)
		lossSum += loss
		lossN++
		correct += c
		seen += o.Batch
		if (step+1)%100 == 0 || step+1 == total {
			prog.Report(step+1, lossSum/float64(lossN), fmt.Sprintf(" train-acc %.4f λ %.2f lr %.2g", float64(correct)/float64(seen), ramp.At(step), sched.At(step)))
			lossSum, lossN, correct, seen = 0, 0, 0, 0
		}
		if (step+1)%perEpoch == 0 && test != nil && o.Log != nil {
			m.SetQuant(ramp.At(step))
			fmt.Fprintf(o.Log, "epoch %d test accuracy %.4f (λ %.2f)\n", (step+1)/perEpoch, EvaluateMLP(m, test), ramp.At(step))
		}
		if o.Checkpoint != "" && (step+1)%every == 0 {
			if err := SaveCheckpoint(o.Checkpoint, "mlp", step+1, opt, ps); err != nil {
				return nil, err
			}
		}
	}
	m.SetQuant(1)
	return m, nil
}

// EvaluateMLP returns the accuracy of m (at its current λ) on s.
func EvaluateMLP(m *MLP, s *mnist.Set) float64 {
	const batch = 500
	x := make([]float32, batch*mnist.Pixels)
	correct := 0
	for i0 := 0; i0 < s.Len(); i0 += batch {
		n := min(batch, s.Len()-i0)
		for b := range n {
			for p, v := range s.Images[i0+b] {
				x[b*mnist.Pixels+p] = float32(v)
			}
		}
		for b, y := range m.Predict(x[:n*mnist.Pixels], n) {
			if y == int(s.Labels[i0+b]) {
				correct++
			}
		}
	}
	return float64(correct) / float64(s.Len())
}
