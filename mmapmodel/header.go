package mmapmodel

// The header schema (generated code: header_gen.go, by the go:generate
// directive in doc.go). It is encoded with MessagePack (tinylib/msgp) as maps
// keyed by the short field names below, so a later minor revision can add a
// field that older readers skip. Every collection carries a limit, enforced
// by the generated decoder before it allocates, so a hostile header cannot
// make the reader allocate more than its own length allows. CRCs are fixed
// 4-byte binaries rather than integers: a MessagePack integer's encoded
// width depends on its value, and the streaming writer must know the
// header's exact length before it has seen the data it checksums.

//msgp:limit arrays:16384 maps:64 marshal:true
//msgp:noduplicates

// header is the decoded header of one file.
type header struct {
	Kind       string        `msg:"kind"`
	Arch       string        `msg:"arch"`
	Params     []paramEntry  `msg:"params,limit=256"`
	Components []compEntry   `msg:"components,limit=4096"`
	Tensors    []tensorEntry `msg:"tensors,limit=16384"`
	DataSize   uint64        `msg:"data_size"`
}

// paramEntry is one typed hyper-parameter. Exactly one of the value fields
// is meaningful, chosen by Type ("int", "float" or "string").
type paramEntry struct {
	Key    string  `msg:"key"`
	Type   string  `msg:"type"`
	Int    int64   `msg:"int"`
	Float  float64 `msg:"float"`
	String string  `msg:"string"`
}

// compEntry names the slot a run of consecutive tensors fills.
type compEntry struct {
	Slot  string `msg:"slot"`
	First uint32 `msg:"first"`
	Count uint32 `msg:"count"`
}

// tensorEntry describes one tensor. Offsets are absolute file offsets.
// ScalesOffset/ScalesLength/ScalesCRC describe the per-row f32 scales of an
// int8 tensor and are zero for every other dtype.
type tensorEntry struct {
	Name         string   `msg:"name"`
	DType        string   `msg:"dtype"`
	Layout       string   `msg:"layout"`
	Shape        []uint64 `msg:"shape,limit=8"`
	Offset       uint64   `msg:"offset"`
	Length       uint64   `msg:"length"`
	CRC          [4]byte  `msg:"crc"`
	Scale        float32  `msg:"scale"`
	ScalesOffset uint64   `msg:"scales_offset"`
	ScalesLength uint64   `msg:"scales_length"`
	ScalesCRC    [4]byte  `msg:"scales_crc"`
}
