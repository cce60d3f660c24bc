package serve

import (
	"encoding/json"
	"errors"
	"testing"
)

// The decoders take untrusted bodies: they must never panic, must refuse
// with a *RequestError (never another error type, which would be a 500),
// and what they accept must respect the limits.

func checkDecodeErr(t *testing.T, err error) {
	var re *RequestError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T) is not a RequestError", err, err)
	}
	if re.Status < 400 || re.Status > 499 || re.Message == "" || re.Type == "" {
		t.Fatalf("request error %+v", re)
	}
	if !json.Valid(errorJSON(re)) {
		t.Fatalf("error body is not JSON: %q", errorJSON(re))
	}
}

func FuzzCompletionRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"barewire","prompt":"hello","max_tokens":16,"temperature":0.7,"top_p":0.9,"seed":1,"stop":["\n"],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"prompt":["one"],"stop":"x","n":1,"best_of":1,"logprobs":null,"user":"u"}`,
		`{"prompt":5}`, `{"prompt":"x","max_tokens":-1}`, `{"prompt":"x","temperature":"hot"}`,
		`{"prompt":"x"} trailing`, `[]`, `null`, ``, `{"prompt":"\u0000\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, p, err := DecodeCompletionRequest(data, DefaultLimits)
		if err != nil {
			checkDecodeErr(t, err)
			return
		}
		if len(r.Prompt) != 1 || len(r.Prompt[0]) > MaxPromptBytes || p.MaxTokens < 1 || p.MaxTokens > DefaultLimits.MaxTokens || len(p.Stop) > MaxStopStrings {
			t.Fatalf("accepted out of limits: %+v %+v", r, p)
		}
	})
}

func FuzzChatRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"barewire","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"max_completion_tokens":8,"stream":true}`,
		`{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}`,
		`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}`,
		`{"messages":[{"role":"tool","content":"x"}]}`, `{"messages":{}}`, `{"messages":[null]}`,
		`{"messages":[{"role":"user","content":null}],"tools":[{}]}`, `{"messages":[],"logprobs":true}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, p, err := DecodeChatRequest(data, DefaultLimits)
		if err != nil {
			checkDecodeErr(t, err)
			return
		}
		if len(r.Messages) == 0 || len(r.Messages) > MaxMessages || p.MaxTokens < 1 || p.MaxTokens > DefaultLimits.MaxTokens {
			t.Fatalf("accepted out of limits: %d messages, %+v", len(r.Messages), p)
		}
		if prompt := RenderChat(r.Messages); len(prompt) > MaxPromptBytes+MaxMessages*16+16 {
			t.Fatalf("rendered prompt of %d bytes", len(prompt))
		}
	})
}

func FuzzClassifyRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"barewire","input":[0,12,255,3.5]}`, `{"input":[[1,2],[3,4]]}`, `{"input":[[]]}`,
		`{"input":[1e39]}`, `{"input":"x"}`, `{"input":[[1],[2,[3]]]}`, `{"input":[ [ 1 ] ]}`, `{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeClassifyRequest(data)
		if err != nil {
			checkDecodeErr(t, err)
			return
		}
		n := 0
		for _, v := range r.Input {
			if len(v) == 0 {
				t.Fatal("accepted an empty vector")
			}
			n += len(v)
		}
		if len(r.Input) == 0 || len(r.Input) > MaxInputVectors || n > MaxInputValues {
			t.Fatalf("accepted out of limits: %d vectors, %d numbers", len(r.Input), n)
		}
	})
}
