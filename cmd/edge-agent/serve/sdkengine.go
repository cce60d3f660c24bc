package serve

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/speakez/barewire/sdk"
	"github.com/speakez/barewire/sdk/tokenizer"
	"github.com/speakez/barewire/update"
	"github.com/speakez/barewire/update/live"
)

// SDKEngine runs releases with the sdk package. A release holds one
// component, the whole sdk.Model opened from the release directory (or
// .bwm file): sdk.Open maps every component file of a release itself, so
// two releases do not share mappings yet, and a swap maps the new release
// whole while the old one drains. The per-component sharing of update/live
// is in place for an sdk that builds a model from components mapped
// elsewhere.
type SDKEngine struct {
	// Options are passed to sdk.Open (threads, backend).
	Options []sdk.Option
	// ContextLength of each session (0: the model's, at most 2048).
	ContextLength int
	// KVCache is each session's KV-cache element type (sdk.WithKVCache):
	// sdk.KVFloat32 (also "") or sdk.KVFloat16.
	KVCache string
	// Sessions is the most idle sessions kept per release for reuse; a
	// session's KV cache is allocated once. Set it to the server's
	// Concurrency, which bounds the sessions in use.
	Sessions int
}

// SlotModel is the slot of the one component of an SDKEngine release.
const SlotModel = "model"

// sdkModel is an opened model and its idle sessions.
type sdkModel struct {
	m        *sdk.Model
	sessions chan *sdk.Session
	closed   atomic.Bool
}

// Close unmaps the model. The release is finished, so no session is in use.
func (c *sdkModel) Close() error {
	c.closed.Store(true)
	for {
		select {
		case <-c.sessions:
		default:
			return c.m.Close()
		}
	}
}

func (e *SDKEngine) model(r *Release) *sdkModel {
	c, ok := r.Component(SlotModel)
	if !ok {
		panic("serve: release " + r.ID() + " has no " + SlotModel + " slot")
	}
	return c.(*sdkModel)
}

// Open maps the release directory or model file src.Path.
func (e *SDKEngine) Open(ctx context.Context, src Source) (*Release, error) {
	m, err := sdk.Open(src.Path, e.Options...)
	if err != nil {
		return nil, err
	}
	n := e.Sessions
	if n <= 0 {
		n = DefaultConcurrency
	}
	c := &sdkModel{m: m, sessions: make(chan *sdk.Session, n)}
	r, err := live.NewRelease(src.ID, map[string]*live.Mapping[Component]{SlotModel: live.Adopt[Component](src.ID, c)})
	if err != nil {
		m.Close()
		return nil, err
	}
	return r, nil
}

// Warm asks the kernel to read the model in (madvise WILLNEED); Check's
// inference then touches every weight page once before traffic does.
func (e *SDKEngine) Warm(ctx context.Context, r *Release) error {
	return e.model(r).m.Warm()
}

// Check is a test inference: one generated token, or one classification
// of a zero input. It fails on any error and on non-finite scores.
func (e *SDKEngine) Check(ctx context.Context, r *Release) error {
	m := e.model(r).m
	if m.Classes() > 0 {
		scores, _, err := m.Classify(ctx, make([]float32, m.Inputs()))
		if err != nil {
			return err
		}
		for i, s := range scores {
			if s != s || s > 3e38 || s < -3e38 {
				return fmt.Errorf("class %d scores %v on a zero input", i, s)
			}
		}
		return nil
	}
	_, err := e.Complete(ctx, r, "a", GenParams{MaxTokens: 1}, func([]byte) error { return nil })
	return err
}

// Shapes describes the release's model as mapped (ModelShaper): its
// architecture and every tensor's name, dtype and shape.
func (e *SDKEngine) Shapes(r *Release) (string, []update.TensorShape, error) {
	f := e.model(r).m.File()
	return f.Arch(), tensorShapes(f), nil
}

// Info describes the release's model.
func (e *SDKEngine) Info(r *Release) ModelInfo {
	m := e.model(r).m
	return ModelInfo{Arch: m.Arch(), Generates: m.Tokenizer() != nil, Classifies: m.Classes() > 0,
		Inputs: m.Inputs(), Classes: m.Classes()}
}

func (e *SDKEngine) session(c *sdkModel) (*sdk.Session, error) {
	select {
	case s := <-c.sessions:
		return s, nil
	default:
		return c.m.NewSession(sdk.WithContextLength(e.ContextLength), sdk.WithKVCache(e.KVCache))
	}
}

// Complete runs one generation on a pooled session (reset first: each
// request is its own conversation).
func (e *SDKEngine) Complete(ctx context.Context, r *Release, prompt string, p GenParams, emit func([]byte) error) (Finish, error) {
	c := e.model(r)
	tk := c.m.Tokenizer()
	if tk == nil {
		return Finish{}, fmt.Errorf("model %q has no tokenizer: %w", c.m.Arch(), ErrUnsupported)
	}
	s, err := e.session(c)
	if err != nil {
		return Finish{}, err
	}
	s.Reset()
	defer func() {
		select {
		case c.sessions <- s:
		default:
		}
	}()
	ids := tk.Encode(prompt, tokenizer.EncodeOptions{AddBOS: tk.AddsBOSByDefault()})
	if len(ids) == 0 && tk.BOS() >= 0 {
		ids = []int{tk.BOS()}
	}
	fin := Finish{Reason: "stop", PromptTokens: len(ids)}
	if n := s.ContextLength(); n > 0 && len(ids) >= n { // 0: a recurrent model, no limit
		return fin, fmt.Errorf("prompt of %d tokens does not fit the context of %d: %w", len(ids), s.ContextLength(), ErrBadInput)
	}
	dec := tokenizer.NewStreamDecoder(tk)
	dec.SkipSpecial = true
	opts := sdk.GenerateOptions{MaxTokens: p.MaxTokens, Temperature: p.Temperature, TopK: p.TopK, TopP: p.TopP,
		Seed: p.Seed, StopStrings: p.Stop}
	for t, err := range s.Generate(ctx, ids, opts) {
		if err != nil {
			if errors.Is(err, sdk.ErrContextFull) {
				fin.Reason = "length"
				break
			}
			if errors.Is(err, sdk.ErrInput) {
				err = fmt.Errorf("%w: %w", ErrBadInput, err)
			}
			return fin, err
		}
		fin.CompletionTokens++
		if piece := dec.Next(t.ID); len(piece) > 0 {
			if err := emit(piece); err != nil {
				return fin, err
			}
		}
	}
	if rest := dec.Flush(); len(rest) > 0 {
		if err := emit(rest); err != nil {
			return fin, err
		}
	}
	if fin.CompletionTokens >= p.MaxTokens {
		fin.Reason = "length"
	}
	return fin, nil
}

// Classify runs the classifier on one input.
func (e *SDKEngine) Classify(ctx context.Context, r *Release, input []float32) (Classification, error) {
	m := e.model(r).m
	if m.Classes() == 0 {
		return Classification{}, fmt.Errorf("model %q: %w", m.Arch(), ErrUnsupported)
	}
	scores, label, err := m.Classify(ctx, input)
	if err != nil {
		if errors.Is(err, sdk.ErrInput) {
			err = fmt.Errorf("%w: %w", ErrBadInput, err)
		}
		return Classification{}, err
	}
	c := Classification{Label: label, Scores: scores}
	if l := m.Labels(); label < len(l) {
		c.Name = l[label]
	}
	return c, nil
}
