//go:build !unix

package jetson

import "fmt"

// MappedFile is unavailable on this system.
type MappedFile struct{}

// MapFile fails: memory mapping needs a Unix system.
func MapFile(path string) (*MappedFile, error) {
	return nil, fmt.Errorf("jetson: MapFile(%s): memory mapping needs a Unix system", path)
}

// Bytes returns nil.
func (m *MappedFile) Bytes() []byte { return nil }

// Close does nothing.
func (m *MappedFile) Close() error { return nil }
