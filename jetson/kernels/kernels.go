package kernels

//go:generate sh gen.sh

import (
	"embed"
	"fmt"
	"regexp"
	"sort"
)

//go:embed ptx/*.ptx
var ptxFS embed.FS

// Modules are the PTX modules, by name (the .cu file's base name).
var Modules = []string{"ternary", "float"}

// PTX returns the embedded PTX of a module.
func PTX(module string) ([]byte, error) {
	b, err := ptxFS.ReadFile("ptx/" + module + ".ptx")
	if err != nil {
		return nil, fmt.Errorf("kernels: no PTX module %q (have %v)", module, Modules)
	}
	return b, nil
}

// Kernel entry points. The argument lists are in the .cu sources.
const (
	TMatVec  = "bw_tmatvec"
	TMatMul  = "bw_tmatmul"
	I8MatVec = "bw_i8matvec"
	RMSNorm  = "bw_rmsnorm"
	RoPE     = "bw_rope"
	Softmax  = "bw_softmax"
	SiLU     = "bw_silu"
	ReLU2    = "bw_relu2"
	Mul      = "bw_mul"
	Quantize = "bw_quantize"

	// Kernels of a whole BitNet layer.
	Dequantize = "bw_dequantize" // exact dot products to floats, optionally added to the residual
	// TMatVec and Dequantize of one token in one launch.
	TMatVecDequant = "bw_tmatvec_dq"
	// RMSNorm and Quantize of its output in one launch.
	RMSNormQuantize = "bw_rmsnorm_quantize"
	GLU             = "bw_glu"       // act(gate)·up, ReLU² or SiLU
	Attention       = "bw_attention" // causal attention of one (head, token) per block over the KV cache
	FMatVec         = "bw_fmatvec"   // f32/f16/bf16 matrix × float vector (output heads)
)

// Element types of bw_fmatvec's matrix (its dtype argument).
const (
	FloatF32  = 0
	FloatF16  = 1
	FloatBF16 = 2
)

// Launch geometry fixed by the sources.
const (
	// WarpsPerBlock rows per block of the matrix kernels (blockDim 128).
	WarpsPerBlock = 4
	// MatrixThreads is the block size of the matrix kernels.
	MatrixThreads = 32 * WarpsPerBlock
	// TokenTile tokens per blockIdx.y of bw_tmatmul.
	TokenTile = 4
	// RowThreads is the block size of the per-token float kernels.
	RowThreads = 256
)

// ModuleOf maps each kernel to its module.
var ModuleOf = map[string]string{
	TMatVec: "ternary", TMatMul: "ternary", I8MatVec: "ternary", TMatVecDequant: "ternary",
	RMSNorm: "float", RoPE: "float", Softmax: "float", SiLU: "float", ReLU2: "float", Mul: "float", Quantize: "float",
	Dequantize: "float", GLU: "float", Attention: "float", FMatVec: "float", RMSNormQuantize: "float",
}

var entryRE = regexp.MustCompile(`(?m)^\.visible \.entry ([A-Za-z_][A-Za-z0-9_]*)\(`)

// Entries lists the kernel entry points declared in a PTX text.
func Entries(ptx []byte) []string {
	var names []string
	for _, m := range entryRE.FindAllSubmatch(ptx, -1) {
		names = append(names, string(m[1]))
	}
	sort.Strings(names)
	return names
}
