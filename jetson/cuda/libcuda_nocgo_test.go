//go:build !(cgo && linux)

package cuda

import (
	"errors"
	"testing"
)

func TestOpenWithoutCgo(t *testing.T) {
	d, err := Open()
	if d != nil || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Open() = %v, %v; want ErrUnavailable", d, err)
	}
}
