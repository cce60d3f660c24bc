package tokenizer

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// The parts of sentencepiece_model.proto (google/sentencepiece
// src/sentencepiece_model.proto, proto2) read by FromSentencePieceModel:
//
//	message ModelProto {
//	  repeated SentencePiece pieces = 1;
//	  optional TrainerSpec trainer_spec = 2;
//	  optional NormalizerSpec normalizer_spec = 3;
//	  message SentencePiece {
//	    optional string piece = 1;
//	    optional float score = 2;
//	    optional Type type = 3 [default = NORMAL]; // NORMAL=1 UNKNOWN=2 CONTROL=3 USER_DEFINED=4 UNUSED=5 BYTE=6
//	  }
//	}
//	message TrainerSpec {
//	  optional ModelType model_type = 3 [default = UNIGRAM]; // UNIGRAM=1 BPE=2 WORD=3 CHAR=4
//	  optional bool treat_whitespace_as_suffix = 24 [default = false];
//	  optional bool byte_fallback = 35 [default = false];
//	  optional int32 unk_id = 40 [default = 0];
//	  optional int32 bos_id = 41 [default = 1];
//	  optional int32 eos_id = 42 [default = 2];
//	  optional int32 pad_id = 43 [default = -1];
//	}
//	message NormalizerSpec {
//	  optional string name = 1;
//	  optional bool add_dummy_prefix = 3 [default = true];
//	  optional bool remove_extra_whitespaces = 4 [default = true];
//	  optional bool escape_whitespaces = 5 [default = true];
//	}
//
// Every other field is skipped by wire type. The reader is our own minimal
// protobuf wire-format decoder (protobuf.dev/programming-guides/encoding).

// Protobuf wire types.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

// protoReader walks the fields of one message.
type protoReader struct {
	b   []byte
	off int
}

// next returns the next field's number and wire type and, for wireBytes,
// its payload; for wireVarint and wireFixed32 the value is in v.
func (r *protoReader) next() (field int, wire int, v uint64, payload []byte, err error) {
	key, err := r.varint()
	if err != nil {
		return 0, 0, 0, nil, err
	}
	field, wire = int(key>>3), int(key&7)
	if field == 0 || key>>3 > math.MaxInt32 {
		return 0, 0, 0, nil, fmt.Errorf("%w: protobuf field number %d at offset %d", ErrFormat, key>>3, r.off)
	}
	switch wire {
	case wireVarint:
		v, err = r.varint()
	case wireFixed64:
		if len(r.b)-r.off < 8 {
			return 0, 0, 0, nil, fmt.Errorf("%w: protobuf field %d: fixed64 past end of data", ErrFormat, field)
		}
		v = binary.LittleEndian.Uint64(r.b[r.off:])
		r.off += 8
	case wireFixed32:
		if len(r.b)-r.off < 4 {
			return 0, 0, 0, nil, fmt.Errorf("%w: protobuf field %d: fixed32 past end of data", ErrFormat, field)
		}
		v = uint64(binary.LittleEndian.Uint32(r.b[r.off:]))
		r.off += 4
	case wireBytes:
		var n uint64
		n, err = r.varint()
		if err == nil && n > uint64(len(r.b)-r.off) {
			err = fmt.Errorf("%w: protobuf field %d: length %d past end of data (%d bytes left)", ErrFormat, field, n, len(r.b)-r.off)
		}
		if err == nil {
			payload = r.b[r.off : r.off+int(n)]
			r.off += int(n)
		}
	default:
		// Groups (3, 4) are not used by sentencepiece_model.proto.
		err = fmt.Errorf("%w: protobuf field %d has unsupported wire type %d", ErrFormat, field, wire)
	}
	return field, wire, v, payload, err
}

func (r *protoReader) varint() (uint64, error) {
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		return 0, fmt.Errorf("%w: bad protobuf varint at offset %d", ErrFormat, r.off)
	}
	r.off += n
	return v, nil
}

func (r *protoReader) done() bool { return r.off >= len(r.b) }

func wantWire(field, wire, want int, msg string) error {
	if wire != want {
		return fmt.Errorf("%w: %s field %d has wire type %d, want %d", ErrFormat, msg, field, wire, want)
	}
	return nil
}

// FromSentencePieceModel loads a SentencePiece tokenizer.model file
// (a serialized ModelProto). Only BPE models with the identity normalizer,
// escape_whitespaces, no remove_extra_whitespaces, whitespace as prefix and
// byte_fallback matching the byte pieces are accepted — the settings of
// LLaMA and LLaMA-2 — and others are refused with ErrUnsupported naming the
// setting.
func FromSentencePieceModel(data []byte) (Tokenizer, error) {
	var (
		cfg                  SentencePieceConfig
		modelType            uint64 = 1 // UNIGRAM, the proto default
		sawTrainer           bool
		wsSuffix, byteFB     bool
		unk, bos, eos, pad   = 0, 1, 2, -1
		normName             string
		dummy, extraWS, escW = true, true, true
	)
	r := protoReader{b: data}
	for !r.done() {
		field, wire, _, payload, err := r.next()
		if err != nil {
			return nil, fmt.Errorf("sentencepiece model: %w", err)
		}
		switch field {
		case 1:
			if err := wantWire(field, wire, wireBytes, "ModelProto"); err != nil {
				return nil, err
			}
			p, s, t, err := parsePiece(payload)
			if err != nil {
				return nil, fmt.Errorf("sentencepiece model: piece %d: %w", len(cfg.Tokens), err)
			}
			cfg.Tokens = append(cfg.Tokens, p)
			cfg.Scores = append(cfg.Scores, s)
			cfg.Types = append(cfg.Types, t)
		case 2:
			if err := wantWire(field, wire, wireBytes, "ModelProto"); err != nil {
				return nil, err
			}
			sawTrainer = true
			tr := protoReader{b: payload}
			for !tr.done() {
				f, w, v, _, err := tr.next()
				if err != nil {
					return nil, fmt.Errorf("sentencepiece model: trainer_spec: %w", err)
				}
				if w != wireVarint {
					continue
				}
				switch f {
				case 3:
					modelType = v
				case 24:
					wsSuffix = v != 0
				case 35:
					byteFB = v != 0
				case 40:
					unk = int(int32(v))
				case 41:
					bos = int(int32(v))
				case 42:
					eos = int(int32(v))
				case 43:
					pad = int(int32(v))
				}
			}
		case 3:
			if err := wantWire(field, wire, wireBytes, "ModelProto"); err != nil {
				return nil, err
			}
			nr := protoReader{b: payload}
			for !nr.done() {
				f, w, v, pl, err := nr.next()
				if err != nil {
					return nil, fmt.Errorf("sentencepiece model: normalizer_spec: %w", err)
				}
				switch {
				case f == 1 && w == wireBytes:
					normName = string(pl)
				case f == 3 && w == wireVarint:
					dummy = v != 0
				case f == 4 && w == wireVarint:
					extraWS = v != 0
				case f == 5 && w == wireVarint:
					escW = v != 0
				}
			}
		}
	}
	switch {
	case !sawTrainer:
		return nil, fmt.Errorf("%w: sentencepiece model has no trainer_spec, so its model type is the default UNIGRAM; only BPE is implemented", ErrUnsupported)
	case modelType != 2:
		return nil, fmt.Errorf("%w: sentencepiece model_type %d (%s); only BPE (2) is implemented", ErrUnsupported, modelType, spModelTypeName(modelType))
	case normName != "identity" && normName != "":
		return nil, fmt.Errorf("%w: sentencepiece normalizer %q; only \"identity\" is implemented", ErrUnsupported, normName)
	case extraWS:
		return nil, fmt.Errorf("%w: sentencepiece normalizer with remove_extra_whitespaces=true", ErrUnsupported)
	case !escW:
		return nil, fmt.Errorf("%w: sentencepiece normalizer with escape_whitespaces=false", ErrUnsupported)
	case wsSuffix:
		return nil, fmt.Errorf("%w: sentencepiece trainer_spec with treat_whitespace_as_suffix=true", ErrUnsupported)
	}
	// NewSentencePiece falls back to bytes when the <0xHH> pieces exist, as
	// llama.cpp does; sentencepiece itself also needs byte_fallback set.
	if !byteFB && slices.Contains(cfg.Types, TypeByte) {
		return nil, fmt.Errorf("%w: sentencepiece model has byte pieces but byte_fallback=false", ErrUnsupported)
	}
	cfg.AddDummyPrefix = dummy
	n := len(cfg.Tokens)
	fix := func(id int) int {
		if id < 0 || id >= n {
			return NoToken
		}
		return id
	}
	cfg.Unknown, cfg.BOS, cfg.EOS, cfg.Padding = fix(unk), fix(bos), fix(eos), fix(pad)
	// sentencepiece's own encoder never adds BOS; Hugging Face's
	// LlamaTokenizer and llama.cpp do for LLaMA models.
	cfg.AddBOS = cfg.BOS != NoToken
	cfg.Stops = namedStops(cfg.Tokens, cfg.Types)
	t, err := NewSentencePiece(cfg)
	if err != nil {
		return nil, fmt.Errorf("sentencepiece model: %w", err)
	}
	return t, nil
}

func spModelTypeName(t uint64) string {
	switch t {
	case 1:
		return "UNIGRAM"
	case 2:
		return "BPE"
	case 3:
		return "WORD"
	case 4:
		return "CHAR"
	}
	return "unknown"
}

func parsePiece(b []byte) (piece string, score float32, typ TokenType, err error) {
	typ = TypeNormal
	r := protoReader{b: b}
	for !r.done() {
		f, w, v, pl, err := r.next()
		if err != nil {
			return "", 0, 0, err
		}
		switch f {
		case 1:
			if err := wantWire(f, w, wireBytes, "SentencePiece"); err != nil {
				return "", 0, 0, err
			}
			piece = string(pl)
		case 2:
			if err := wantWire(f, w, wireFixed32, "SentencePiece"); err != nil {
				return "", 0, 0, err
			}
			score = math.Float32frombits(uint32(v))
		case 3:
			if err := wantWire(f, w, wireVarint, "SentencePiece"); err != nil {
				return "", 0, 0, err
			}
			if v < uint64(TypeNormal) || v > uint64(TypeByte) {
				return "", 0, 0, fmt.Errorf("%w: piece %q has type %d, want 1..6", ErrFormat, piece, v)
			}
			typ = TokenType(v)
		}
	}
	return piece, score, typ, nil
}
