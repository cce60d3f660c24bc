package simd

//go:generate sh -c "cd _asm && go run . -out ../tdot_amd64.s -stubs ../tdot_stub_amd64.go -pkg simd"
