package serve_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/speakez/barewire/cmd/edge-agent/serve"
	"github.com/speakez/barewire/update/live"
)

// echo is a toy component and engine: it "generates" the prompt back.
type echo struct{}

func (echo) Close() error { return nil }

type echoEngine struct{}

func (echoEngine) Open(ctx context.Context, src serve.Source) (*serve.Release, error) {
	return live.NewRelease[serve.Component](src.ID, map[string]*live.Mapping[serve.Component]{
		"model": live.Adopt[serve.Component]("echo", echo{}),
	})
}
func (echoEngine) Warm(context.Context, *serve.Release) error  { return nil }
func (echoEngine) Check(context.Context, *serve.Release) error { return nil }
func (echoEngine) Info(*serve.Release) serve.ModelInfo {
	return serve.ModelInfo{Arch: "echo", Generates: true}
}
func (echoEngine) Complete(ctx context.Context, r *serve.Release, prompt string, p serve.GenParams, emit func([]byte) error) (serve.Finish, error) {
	return serve.Finish{Reason: "stop", CompletionTokens: 1}, emit([]byte(strings.ToUpper(prompt)))
}
func (echoEngine) Classify(context.Context, *serve.Release, []float32) (serve.Classification, error) {
	return serve.Classification{}, serve.ErrUnsupported
}

func Example() {
	s, _ := serve.New(serve.Config{Engine: echoEngine{}, ModelName: "echo"})
	if err := s.Start(context.Background(), serve.Source{ID: "r1", Path: "echo.bwm"}); err != nil {
		panic(err)
	}
	defer s.Close(context.Background())
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/v1/completions",
		strings.NewReader(`{"model":"echo","prompt":"hello"}`)))
	fmt.Println(rec.Code, rec.Header().Get("X-Barewire-Release"), strings.Contains(rec.Body.String(), `"text":"HELLO"`))
	// Output: 200 r1 true
}
