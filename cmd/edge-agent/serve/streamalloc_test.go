package serve

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/speakez/barewire/update/live"
)

// pieceEngine generates p.MaxTokens copies of one multi-byte piece,
// allocating nothing itself.
type pieceEngine struct{ piece []byte }

func (pieceEngine) Open(ctx context.Context, src Source) (*Release, error) {
	return live.NewRelease[Component](src.ID, map[string]*live.Mapping[Component]{
		"model": live.Adopt[Component]("piece", nopComponent{}),
	})
}
func (pieceEngine) Warm(context.Context, *Release) error  { return nil }
func (pieceEngine) Check(context.Context, *Release) error { return nil }
func (pieceEngine) Info(*Release) ModelInfo               { return ModelInfo{Arch: "piece", Generates: true} }
func (e pieceEngine) Complete(ctx context.Context, r *Release, prompt string, p GenParams, emit func([]byte) error) (Finish, error) {
	fin := Finish{Reason: "length"}
	for range p.MaxTokens {
		if err := ctx.Err(); err != nil {
			return fin, err
		}
		if err := emit(e.piece); err != nil {
			return fin, err
		}
		fin.CompletionTokens++
	}
	return fin, nil
}
func (pieceEngine) Classify(context.Context, *Release, []float32) (Classification, error) {
	return Classification{}, ErrUnsupported
}

type nopComponent struct{}

func (nopComponent) Close() error { return nil }

// discardWriter is a streaming ResponseWriter that keeps nothing.
type discardWriter struct {
	h http.Header
	n int
}

func (d *discardWriter) Header() http.Header              { return d.h }
func (d *discardWriter) Write(b []byte) (int, error)      { d.n += len(b); return len(b), nil }
func (d *discardWriter) WriteHeader(int)                  {}
func (d *discardWriter) Flush()                           {}
func (d *discardWriter) SetWriteDeadline(time.Time) error { return nil }

// A streamed completion or chat costs no allocation per generated piece:
// a request of 200 pieces allocates as much as one of 1.
func TestStreamNoAllocsPerToken(t *testing.T) {
	srv, err := New(Config{Engine: pieceEngine{piece: []byte("日本 <é>\n")}, Limits: Limits{MaxTokens: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background(), Source{ID: "r1", Path: "p"}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	h := srv.Handler()
	w := &discardWriter{h: http.Header{}}
	for _, c := range []struct{ path, body string }{
		{"/v1/completions", `{"prompt":"x","max_tokens":%d,"stream":true}`},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}],"max_tokens":%d,"stream":true}`},
	} {
		run := func(n int) func() {
			body := strings.Replace(c.body, "%d", itoa(n), 1)
			return func() {
				clear(w.h)
				w.n = 0
				h.ServeHTTP(w, httptest.NewRequest("POST", c.path, strings.NewReader(body)))
				if w.n < n*10 {
					t.Fatalf("%s: %d bytes written for %d pieces", c.path, w.n, n)
				}
			}
		}
		run(200)()
		a1, a200 := testing.AllocsPerRun(20, run(1)), testing.AllocsPerRun(20, run(200))
		if a200 > a1 {
			t.Errorf("%s: %v allocations for 1 piece, %v for 200", c.path, a1, a200)
		}
	}
}

func itoa(n int) string {
	s := ""
	for {
		s = string(rune('0'+n%10)) + s
		if n /= 10; n == 0 {
			return s
		}
	}
}
