//go:build !(linux && amd64 && gc && !purego && !noasm)

package simd

import "errors"

// AMXError reports why the amx tier is unavailable in this process, or nil
// when it is available. The tier exists only for linux/amd64 builds with
// assembly.
func AMXError() error {
	return errors.New("amx: needs linux/amd64 without the purego and noasm tags")
}
