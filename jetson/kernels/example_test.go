package kernels_test

import (
	"fmt"

	"github.com/speakez/barewire/jetson/kernels"
)

// The kernels of each embedded PTX module.
func Example() {
	for _, mod := range kernels.Modules {
		ptx, err := kernels.PTX(mod)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(mod, kernels.Entries(ptx))
	}
	// Output:
	// ternary [bw_i8matvec bw_tmatmul bw_tmatvec bw_tmatvec_dq]
	// float [bw_attention bw_dequantize bw_fmatvec bw_glu bw_mul bw_quantize bw_relu2 bw_rmsnorm bw_rmsnorm_quantize bw_rope bw_silu bw_softmax]
}
