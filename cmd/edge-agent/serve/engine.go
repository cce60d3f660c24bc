package serve

import (
	"context"
	"errors"

	"github.com/speakez/barewire/update"
	"github.com/speakez/barewire/update/live"
)

// Component is one mapped part of a release; Release is what a request
// pins. They are the update/live types, fixed to this package's use.
type (
	Component = live.Component
	Release   = live.Release[Component]
)

// Source says where a release's components are.
type Source struct {
	// ID names the release: the store's release id, or a name derived
	// from the model path for the model given on the command line.
	ID string
	// Path is a .bwm file or a release directory (manifest.json beside
	// the component files) holding the release.
	Path string
	// Manifest is the signed release manifest when the release comes from
	// the update store; nil for a model given by path.
	Manifest *update.ReleaseManifest
	// ObjectPath maps a component hash to its file in the store (nil
	// without a store).
	ObjectPath func(sha256 string) string
}

// ModelInfo says what a release can do.
type ModelInfo struct {
	Arch       string
	Generates  bool // completions and chat
	Classifies bool
	Inputs     int // classifier input width
	Classes    int
}

// Finish is how a generation ended and what it cost.
type Finish struct {
	// Reason is "stop" (a stop token or string) or "length" (max_tokens).
	Reason           string
	PromptTokens     int
	CompletionTokens int
}

// Classification is one input's result.
type Classification struct {
	Label  int       `json:"label"`
	Name   string    `json:"name,omitempty"`
	Scores []float32 `json:"scores"`
}

// Engine runs inference over a pinned release. It holds no release itself:
// every call receives the release the request pinned, so that a response
// is computed from one release's components only, whatever swaps happen
// meanwhile. Implementations must be safe for concurrent use, honour ctx
// (a cancelled context stops generation within one token) and never keep
// a reference into the release after returning.
type Engine interface {
	// Open maps the components of src into a release that is not yet
	// live. Components already mapped for another release may be shared.
	Open(ctx context.Context, src Source) (*Release, error)
	// Warm pages the release's weights in before it takes traffic
	// (madvise WILLNEED, touching pages).
	Warm(ctx context.Context, r *Release) error
	// Check is the test inference run before a release goes live.
	Check(ctx context.Context, r *Release) error
	// Info describes the release's model.
	Info(r *Release) ModelInfo
	// Complete generates text after prompt, calling emit with each piece
	// of text as it is produced (emit does not keep the slice, which the
	// engine may reuse at once). An error from emit stops generation and
	// is returned.
	Complete(ctx context.Context, r *Release, prompt string, p GenParams, emit func(piece []byte) error) (Finish, error)
	// Classify runs the classifier on one input vector.
	Classify(ctx context.Context, r *Release, input []float32) (Classification, error)
}

// ErrUnsupported is returned (wrapped) by an engine asked for an operation
// its model does not offer; the server answers 400.
var ErrUnsupported = errors.New("operation not offered by this model")

// ErrBadInput is returned (wrapped) by an engine for an input it refuses
// (wrong vector length, prompt too long for the context); the server
// answers 400.
var ErrBadInput = errors.New("bad input")
