package convert

import "unsafe"

// uintptrOf is the address of b's first byte (b non-empty), used only to
// align an madvise range to pages.
func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }
