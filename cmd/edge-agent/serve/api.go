package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strings"
)

// Limits on what a request may ask for. They bound memory before the
// engine sees anything.
const (
	MaxPromptBytes  = 256 << 10 // one prompt, or all chat messages together
	MaxMessages     = 256
	MaxStopStrings  = 4 // as OpenAI
	MaxStopBytes    = 256
	MaxInputVectors = 256
	MaxInputValues  = 1 << 20 // floats over all classify inputs
)

// Request shapes follow the OpenAI API (https://platform.openai.com/docs/api-reference):
// fields a client may send that do not change the result here (user,
// logit_bias, presence_penalty...) are accepted and ignored, as OpenAI-
// compatible servers do, because clients send them by default. Fields that
// would change the result and are not supported (n > 1, logprobs, echo,
// best_of > 1, tools) are refused with a message naming the field.

// CompletionRequest is the body of POST /v1/completions.
type CompletionRequest struct {
	Model  string  `json:"model"`
	Prompt Strings `json:"prompt"`
	Sampling
	Echo    bool            `json:"echo"`
	BestOf  *int            `json:"best_of"`
	Suffix  *string         `json:"suffix"`
	Logprob json.RawMessage `json:"logprobs"`
}

// ChatRequest is the body of POST /v1/chat/completions.
type ChatRequest struct {
	Model    string        `json:"model"`
	Messages []ChatMessage `json:"messages"`
	Sampling
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Logprobs            bool            `json:"logprobs"`
	Tools               json.RawMessage `json:"tools"`
}

// ChatMessage is one message; Content is a string or a list of parts of
// which only {"type":"text"} ones are accepted.
type ChatMessage struct {
	Role    string      `json:"role"`
	Content ChatContent `json:"content"`
	Name    string      `json:"name,omitempty"`
}

// Sampling holds the fields shared by both generation endpoints.
type Sampling struct {
	MaxTokens     *int           `json:"max_tokens"`
	Temperature   *float64       `json:"temperature"`
	TopP          *float64       `json:"top_p"`
	TopK          *int           `json:"top_k"` // not in OpenAI's API; llama.cpp and vLLM accept it
	Seed          *int64         `json:"seed"`
	Stop          Strings        `json:"stop"`
	N             *int           `json:"n"`
	Stream        bool           `json:"stream"`
	StreamOptions *StreamOptions `json:"stream_options"`
}

// StreamOptions is OpenAI's stream_options.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// ClassifyRequest is the body of POST /v1/classify: one input vector or a
// list of them, in the raw units of the data.
type ClassifyRequest struct {
	Model string  `json:"model"`
	Input Vectors `json:"input"`
}

// Strings is a JSON string or list of strings (prompt, stop).
type Strings []string

// UnmarshalJSON accepts "s", ["a","b"] and null.
func (s *Strings) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = Strings{one}
		return nil
	}
	if string(b) == "null" {
		*s = nil
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("want a string or a list of strings")
	}
	*s = many
	return nil
}

// ChatContent is a message's text: a string or a list of text parts.
type ChatContent string

// UnmarshalJSON accepts "text", [{"type":"text","text":"..."}...] and null.
func (c *ChatContent) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*c = ChatContent(s)
		return nil
	}
	if string(b) == "null" {
		*c = ""
		return nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(b, &parts); err != nil {
		return errors.New("want a string or a list of content parts")
	}
	var sb strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return fmt.Errorf("content part of type %q: only \"text\" parts are supported", truncate(p.Type))
		}
		sb.WriteString(p.Text)
	}
	*c = ChatContent(sb.String())
	return nil
}

// Vectors is one vector of numbers or a list of them.
type Vectors [][]float32

// UnmarshalJSON accepts [1,2,3] and [[1,2],[3,4]].
func (v *Vectors) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 1 && b[0] == '[' {
		rest := bytes.TrimSpace(b[1:])
		if len(rest) > 0 && rest[0] == '[' {
			var many [][]float32
			if err := json.Unmarshal(b, &many); err != nil {
				return errors.New("want a list of numbers or a list of such lists")
			}
			*v = many
			return nil
		}
	}
	var one []float32
	if err := json.Unmarshal(b, &one); err != nil {
		return errors.New("want a list of numbers or a list of such lists")
	}
	*v = Vectors{one}
	return nil
}

// RequestError is a request the server refuses; Param names the field at
// fault, as in OpenAI's error object.
type RequestError struct {
	Status  int
	Type    string
	Param   string
	Message string
}

func (e *RequestError) Error() string { return e.Message }

func badField(param, format string, args ...any) *RequestError {
	return &RequestError{Status: 400, Type: "invalid_request_error", Param: param,
		Message: fmt.Sprintf("field %q: ", param) + fmt.Sprintf(format, args...)}
}

// decodeJSON decodes exactly one JSON object into v. Errors name the field
// (json's own messages are turned into "field \"x\": ..." so a client sees
// what to fix).
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return &RequestError{Status: 400, Type: "invalid_request_error",
				Message: fmt.Sprintf("body is not valid JSON at byte %d: %v", se.Offset, se)}
		case errors.As(err, &te):
			if te.Field == "" {
				return &RequestError{Status: 400, Type: "invalid_request_error",
					Message: fmt.Sprintf("body must be a JSON object, got %s", te.Value)}
			}
			return badField(jsonPath(te.Field), "want %s, got %s", jsonKind(te.Type.Kind().String()), te.Value)
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return &RequestError{Status: 400, Type: "invalid_request_error", Message: "body is empty or truncated JSON"}
		}
		// Errors from the UnmarshalJSON methods above come without the
		// field's name: find it by decoding the fields one at a time.
		if f := findBadField(data, v); f != "" {
			return badField(f, "%v", err)
		}
		return &RequestError{Status: 400, Type: "invalid_request_error", Message: "cannot decode body: " + err.Error()}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &RequestError{Status: 400, Type: "invalid_request_error", Message: "data after the JSON object"}
	}
	return nil
}

// jsonPath drops the names of embedded Go structs (Sampling) from the
// path encoding/json reports, leaving the JSON field names.
func jsonPath(p string) string {
	parts := strings.Split(p, ".")
	out := parts[:0]
	for _, s := range parts {
		if s != "" && s[0] >= 'A' && s[0] <= 'Z' {
			continue
		}
		out = append(out, s)
	}
	return strings.Join(out, ".")
}

// findBadField returns the first top-level field (in sorted order) that
// fails to decode on its own into a fresh value of v's type.
func findBadField(data []byte, v any) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	t := reflect.TypeOf(v).Elem()
	for _, k := range keys {
		one, err := json.Marshal(map[string]json.RawMessage{k: m[k]})
		if err != nil {
			return k
		}
		if json.Unmarshal(one, reflect.New(t).Interface()) != nil {
			return k
		}
	}
	return ""
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "a list"
	case "struct", "map":
		return "an object"
	case "ptr":
		return "a value"
	}
	return "a number"
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// GenParams are the sampling settings handed to the engine.
type GenParams struct {
	MaxTokens   int
	Temperature float32
	TopP        float32
	TopK        int
	Seed        uint64
	Stop        []string
}

// params validates the sampling fields against the server's token cap.
func (s *Sampling) params(maxTokensCap, defaultMax int, maxTokensField string, maxTokens *int) (GenParams, error) {
	p := GenParams{MaxTokens: defaultMax}
	if maxTokens == nil {
		maxTokens = s.MaxTokens
	}
	if maxTokens != nil {
		if *maxTokens < 1 || *maxTokens > maxTokensCap {
			return p, badField(maxTokensField, "%d is out of range 1..%d", *maxTokens, maxTokensCap)
		}
		p.MaxTokens = *maxTokens
	}
	if t := s.Temperature; t != nil {
		if math.IsNaN(*t) || *t < 0 || *t > 2 {
			return p, badField("temperature", "%v is out of range 0..2", *t)
		}
		p.Temperature = float32(*t)
	}
	if t := s.TopP; t != nil {
		if math.IsNaN(*t) || *t <= 0 || *t > 1 {
			return p, badField("top_p", "%v is out of range (0, 1]", *t)
		}
		p.TopP = float32(*t)
	}
	if k := s.TopK; k != nil {
		if *k < 0 {
			return p, badField("top_k", "%d is negative", *k)
		}
		p.TopK = *k
	}
	if s.Seed != nil {
		p.Seed = uint64(*s.Seed)
	}
	if len(s.Stop) > MaxStopStrings {
		return p, badField("stop", "%d stop strings, at most %d", len(s.Stop), MaxStopStrings)
	}
	for _, st := range s.Stop {
		if len(st) > MaxStopBytes {
			return p, badField("stop", "a stop string of %d bytes, at most %d", len(st), MaxStopBytes)
		}
		if st != "" {
			p.Stop = append(p.Stop, st)
		}
	}
	if s.N != nil && *s.N != 1 {
		return p, badField("n", "only n=1 is supported")
	}
	if s.StreamOptions != nil && !s.Stream {
		return p, badField("stream_options", "only allowed with \"stream\": true")
	}
	return p, nil
}

// Limits are the server's per-request caps used by the decoders.
type Limits struct {
	MaxTokens     int // cap on max_tokens
	DefaultTokens int // max_tokens when absent
}

// DefaultLimits are the caps used when Config leaves them zero.
var DefaultLimits = Limits{MaxTokens: 4096, DefaultTokens: 256}

// DecodeCompletionRequest parses and checks a completions body.
func DecodeCompletionRequest(data []byte, lim Limits) (*CompletionRequest, GenParams, error) {
	var r CompletionRequest
	if err := decodeJSON(data, &r); err != nil {
		return nil, GenParams{}, err
	}
	switch {
	case len(r.Prompt) == 0:
		return nil, GenParams{}, badField("prompt", "is required")
	case len(r.Prompt) > 1:
		return nil, GenParams{}, badField("prompt", "a list of %d prompts; send one prompt per request", len(r.Prompt))
	case len(r.Prompt[0]) > MaxPromptBytes:
		return nil, GenParams{}, badField("prompt", "%d bytes, at most %d", len(r.Prompt[0]), MaxPromptBytes)
	case r.Echo:
		return nil, GenParams{}, badField("echo", "not supported")
	case r.BestOf != nil && *r.BestOf != 1:
		return nil, GenParams{}, badField("best_of", "only best_of=1 is supported")
	case r.Suffix != nil && *r.Suffix != "":
		return nil, GenParams{}, badField("suffix", "not supported")
	case len(r.Logprob) > 0 && string(r.Logprob) != "null":
		return nil, GenParams{}, badField("logprobs", "not supported")
	}
	p, err := r.params(lim.MaxTokens, lim.DefaultTokens, "max_tokens", nil)
	if err != nil {
		return nil, p, err
	}
	return &r, p, nil
}

// DecodeChatRequest parses and checks a chat completions body.
func DecodeChatRequest(data []byte, lim Limits) (*ChatRequest, GenParams, error) {
	var r ChatRequest
	if err := decodeJSON(data, &r); err != nil {
		return nil, GenParams{}, err
	}
	if len(r.Messages) == 0 {
		return nil, GenParams{}, badField("messages", "at least one message is required")
	}
	if len(r.Messages) > MaxMessages {
		return nil, GenParams{}, badField("messages", "%d messages, at most %d", len(r.Messages), MaxMessages)
	}
	total := 0
	for i, m := range r.Messages {
		switch m.Role {
		case "system", "developer", "user", "assistant":
		default:
			return nil, GenParams{}, badField(fmt.Sprintf("messages[%d].role", i), "%q is not one of system, developer, user, assistant", truncate(m.Role))
		}
		total += len(m.Content)
	}
	if total > MaxPromptBytes {
		return nil, GenParams{}, badField("messages", "%d bytes of content, at most %d", total, MaxPromptBytes)
	}
	if r.Logprobs {
		return nil, GenParams{}, badField("logprobs", "not supported")
	}
	if len(r.Tools) > 0 && string(r.Tools) != "null" {
		return nil, GenParams{}, badField("tools", "not supported")
	}
	field := "max_tokens"
	if r.MaxCompletionTokens != nil {
		field = "max_completion_tokens"
	}
	p, err := r.params(lim.MaxTokens, lim.DefaultTokens, field, r.MaxCompletionTokens)
	if err != nil {
		return nil, p, err
	}
	return &r, p, nil
}

// DecodeClassifyRequest parses and checks a classify body.
func DecodeClassifyRequest(data []byte) (*ClassifyRequest, error) {
	var r ClassifyRequest
	if err := decodeJSON(data, &r); err != nil {
		return nil, err
	}
	if len(r.Input) == 0 {
		return nil, badField("input", "is required")
	}
	if len(r.Input) > MaxInputVectors {
		return nil, badField("input", "%d vectors, at most %d", len(r.Input), MaxInputVectors)
	}
	n := 0
	for i, v := range r.Input {
		if len(v) == 0 {
			return nil, badField(fmt.Sprintf("input[%d]", i), "empty vector")
		}
		n += len(v)
		for j, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, badField(fmt.Sprintf("input[%d][%d]", i, j), "not a finite number")
			}
		}
	}
	if n > MaxInputValues {
		return nil, badField("input", "%d numbers, at most %d", n, MaxInputValues)
	}
	return &r, nil
}

// RenderChat turns chat messages into one prompt for a model without a
// chat template of its own: each message on its own line, prefixed by its
// role, then the assistant's turn.
func RenderChat(msgs []ChatMessage) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(m.Role)
		b.WriteString(": ")
		b.WriteString(string(m.Content))
		b.WriteByte('\n')
	}
	b.WriteString("assistant:")
	return b.String()
}
